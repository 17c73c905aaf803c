"""Control: each scenario's confidence threshold and handoff policy, changed by admins, audited.

A policy is three values: the calibrated probability below which a prediction counts as unsure
(`confidence_threshold`), what happens then (`low_confidence_action`: hand over to a person,
answer and queue for review, or not answer automatically), and labels that always go to a person
(`handoff_labels`). They live in `ScenarioPolicy` rows unless the scenario's app keeps them in
its own settings and registers a `PolicyStore` for them (the customer-service assistant does:
its cascade reads its own settings row), so there is one source of truth either way.

Serving code reads `scenario_policy(key)` (cached per process for a few seconds); the control
page changes them with `scenario_policy_update`, which validates, writes, and records a
"threshold.change" audit event with the values before and after.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import AuditEvent, ScenarioPolicy
from ..scenarios import all_scenarios
from .audit import audit_record

POLICY_TTL_S = 3.0
ACTIONS = tuple(ScenarioPolicy.LowConfidence.values)
FIELDS = ("confidence_threshold", "low_confidence_action", "handoff_labels")


@dataclass(frozen=True)
class Policy:
    scenario: str
    confidence_threshold: float = 0.5
    low_confidence_action: str = ScenarioPolicy.LowConfidence.REVIEW
    handoff_labels: tuple[str, ...] = ()
    stored_in: str = "scenario policy"

    def is_unsure(self, confidence: float | None) -> bool:
        return confidence is None or confidence < self.confidence_threshold

    def values(self) -> dict[str, Any]:
        return {"confidence_threshold": self.confidence_threshold, "low_confidence_action": self.low_confidence_action,
                "handoff_labels": list(self.handoff_labels)}


@dataclass(frozen=True)
class PolicyStore:
    """Where an app keeps a scenario's policy when not in ScenarioPolicy.

    read() -> {"confidence_threshold", "low_confidence_action", "handoff_labels"};
    write(values, actor) stores them (raising ValidationError on bad values).
    `audited`: write() records the audit event itself (so it is not recorded twice).
    """

    read: Callable[[], dict[str, Any]]
    write: Callable[[dict[str, Any], Any], None]
    where: str
    actions: tuple[str, ...] = ACTIONS
    audited: bool = False


_stores: dict[str, PolicyStore] = {}
_defaults: dict[str, dict[str, Any]] = {}
_cache: dict[str, tuple[float, Policy]] = {}
_lock = threading.Lock()


def register_policy_store(scenario: str, store: PolicyStore) -> None:
    _stores[scenario] = store
    policy_cache_clear()


def register_policy_defaults(scenario: str, **values: Any) -> None:
    """What a scenario's policy is before an admin changes it (e.g. threshold 0.6)."""
    _defaults[scenario] = {k: v for k, v in values.items() if k in FIELDS}
    policy_cache_clear()


def policy_cache_clear() -> None:
    with _lock:
        _cache.clear()


def _from_values(scenario: str, values: dict[str, Any], stored_in: str) -> Policy:
    return Policy(scenario=scenario, confidence_threshold=float(values.get("confidence_threshold", 0.5)),
                  low_confidence_action=str(values.get("low_confidence_action", ScenarioPolicy.LowConfidence.REVIEW)),
                  handoff_labels=tuple(values.get("handoff_labels") or ()), stored_in=stored_in)


def _read(scenario: str) -> Policy:
    store = _stores.get(scenario)
    if store is not None:
        return _from_values(scenario, store.read(), store.where)
    row = ScenarioPolicy.objects.filter(scenario=scenario).first()
    if row is None:
        return _from_values(scenario, _defaults.get(scenario, {}), "defaults")
    return _from_values(scenario, {f: getattr(row, f) for f in FIELDS}, "scenario policy")


def scenario_policy(scenario: str, *, fresh: bool = False) -> Policy:
    """The policy in force (cached per process for POLICY_TTL_S seconds)."""
    now = time.monotonic()
    cached = _cache.get(scenario)
    if not fresh and cached and now - cached[0] < POLICY_TTL_S:
        return cached[1]
    policy = _read(scenario)
    with _lock:
        _cache[scenario] = (now, policy)
    return policy


def clean_policy_values(values: dict[str, Any], *, actions: tuple[str, ...] = ACTIONS) -> dict[str, Any]:
    """Checked, normalised values; ValidationError naming each bad field."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    try:
        threshold = float(values.get("confidence_threshold"))
        if not 0.0 <= threshold <= 1.0:
            raise ValueError
        out["confidence_threshold"] = threshold
    except (TypeError, ValueError):
        errors["confidence_threshold"] = "must be a number between 0 and 1"
    action = values.get("low_confidence_action")
    if action not in actions:
        errors["low_confidence_action"] = f"must be one of: {', '.join(actions)}"
    out["low_confidence_action"] = action
    labels = values.get("handoff_labels") or []
    if isinstance(labels, str):
        labels = [part.strip() for part in labels.replace("\n", ",").split(",")]
    if not isinstance(labels, (list, tuple)) or not all(isinstance(label, str) for label in labels):
        errors["handoff_labels"] = "must be a list of label names"
    else:
        out["handoff_labels"] = sorted({label.strip() for label in labels if label.strip()})
    if errors:
        raise ValidationError(errors)
    return out


def scenario_policy_update(*, scenario: str, values: dict[str, Any], actor=None) -> Policy:
    """Validate and store a scenario's policy; audit what changed (nothing changed: no event)."""
    store = _stores.get(scenario)
    cleaned = clean_policy_values(values, actions=store.actions if store else ACTIONS)
    before = scenario_policy(scenario, fresh=True).values()
    changed = {k: {"from": before.get(k), "to": v} for k, v in cleaned.items() if before.get(k) != v}
    if not changed:
        return scenario_policy(scenario, fresh=True)
    with transaction.atomic():
        if store is not None:
            store.write(cleaned, actor)
        else:
            row, _ = ScenarioPolicy.objects.select_for_update().get_or_create(scenario=scenario)
            for name, value in cleaned.items():
                setattr(row, name, value)
            row.updated_by = actor if (actor is not None and actor.is_authenticated) else None
            row.save()
        if store is None or not store.audited:
            audit_record(action=AuditEvent.Action.THRESHOLD_CHANGE, scenario=scenario, target=f"{scenario} policy",
                         details={"changed": changed}, actor=actor)
    policy_cache_clear()
    return scenario_policy(scenario, fresh=True)


@dataclass
class PolicyRow:
    scenario: Any  # apps.core.scenarios.Scenario
    policy: Policy
    history: list[AuditEvent] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario.key, **asdict(self.policy)}


def policy_overview(*, history: int = 5) -> list[PolicyRow]:
    """Every classifier scenario with its policy and its latest changes (the control page)."""
    rows = []
    for scenario in all_scenarios():
        if not scenario.has_policy:
            continue  # e.g. finance topics: each topic has its own similarity threshold instead
        if scenario.classifier is None and scenario.key not in _stores and scenario.key not in _defaults:
            continue  # a recommender has no confidence threshold
        events = list(AuditEvent.objects.filter(action=AuditEvent.Action.THRESHOLD_CHANGE, scenario=scenario.key)
                      .order_by("-created_at")[:history])
        rows.append(PolicyRow(scenario, scenario_policy(scenario.key, fresh=True), events))
    return rows
