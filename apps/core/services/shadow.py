"""Shadow mode: a candidate model version scores live traffic beside the active one, silently.

An admin starts a shadow deployment for a candidate version (one per scenario at a time). The
serving code of the scenario calls `shadow_observe(...)` after it has answered, with what the
active version said; when no deployment runs that is a dictionary lookup. When one runs, the
input is stored (one INSERT) and the `core.shadow_score` task is queued at most once per
`SHADOW_BATCH_DELAY_S`; an inference worker scores the waiting inputs with the candidate in
batches. Nothing of this is on the answer's path: the candidate never answers, and its cost is
paid by the worker.

`shadow_comparison(deployment)` gives the figures the comparison page shows before activation:
agreement with the active version (overall and per active label), the most frequent
disagreements, confidence, the candidate's scoring time, and, on the inputs whose right answer
an operator has given since (each scenario says how to find them with
`register_label_resolver`), both versions' accuracy with an exact McNemar test.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from ml_core.errors import UserError
from ml_core.stats import mcnemar_exact_p  # the activation policy's paired test too (services.activation)

from ..models import AuditEvent, ModelVersion, ShadowDeployment, ShadowPrediction
from .audit import audit_record

log = logging.getLogger(__name__)

SHADOW_BATCH_DELAY_S = 2.0
SHADOW_BATCH_SIZE = 64
DEPLOYMENT_TTL_S = 5.0
MAX_TEXT_CHARS = 5000

# scenario -> resolver(subjects) -> {subject: right label}, for the inputs an operator labelled.
LabelResolver = Callable[[list[str]], dict[str, str]]
_label_resolvers: dict[str, LabelResolver] = {}
_running: dict[str, tuple[float, int | None, float]] = {}  # scenario -> (checked at, deployment id, sample rate)
_lock = threading.Lock()


def register_label_resolver(scenario: str, resolver: LabelResolver) -> None:
    _label_resolvers[scenario] = resolver


def shadow_cache_clear() -> None:
    with _lock:
        _running.clear()


# --- starting and stopping ------------------------------------------------------------------------
def shadow_start(*, candidate: ModelVersion, actor=None, sample_rate: float = 1.0) -> ShadowDeployment:
    """Run `candidate` in shadow for its scenario (stopping a shadow already running there)."""
    from .classifier_files import classifier_reports

    if candidate.is_active:
        raise UserError(f"{candidate} is the active version: shadow a version that is not serving yet")
    if classifier_reports(version=candidate) is None:
        raise UserError(f"{candidate} is not a text classifier: shadow mode compares classifier predictions")
    if not 0.0 < float(sample_rate) <= 1.0:
        raise UserError("the sample rate must be above 0 and at most 1")
    with transaction.atomic():
        for running in ShadowDeployment.objects.select_for_update().filter(scenario=candidate.scenario, is_running=True):
            _stop(running, actor)
        deployment = ShadowDeployment.objects.create(
            scenario=candidate.scenario, candidate=candidate, sample_rate=float(sample_rate),
            started_by=actor if (actor is not None and actor.is_authenticated) else None)
        audit_record(action=AuditEvent.Action.SETTINGS_CHANGE, scenario=candidate.scenario,
                     target=f"shadow v{candidate.version}", actor=actor,
                     details={"shadow": "started", "candidate_version": candidate.version, "sample_rate": sample_rate})
    shadow_cache_clear()
    return deployment


def _stop(deployment: ShadowDeployment, actor) -> None:
    ShadowDeployment.objects.filter(pk=deployment.pk).update(is_running=False, stopped_at=timezone.now())
    audit_record(action=AuditEvent.Action.SETTINGS_CHANGE, scenario=deployment.scenario,
                 target=f"shadow v{deployment.candidate.version}", actor=actor, details={"shadow": "stopped"})


def shadow_stop(*, deployment: ShadowDeployment, actor=None) -> ShadowDeployment:
    if deployment.is_running:
        with transaction.atomic():
            _stop(deployment, actor)
        shadow_cache_clear()
    deployment.refresh_from_db()
    return deployment


# --- observing live traffic (the serving side) -----------------------------------------------------
def _running_deployment(scenario: str) -> tuple[int | None, float]:
    now = time.monotonic()
    cached = _running.get(scenario)
    if cached and now - cached[0] < DEPLOYMENT_TTL_S:
        return cached[1], cached[2]
    found = (ShadowDeployment.objects.filter(scenario=scenario, is_running=True)
             .values_list("pk", "sample_rate").first())
    deployment_id, rate = found if found else (None, 0.0)
    with _lock:
        _running[scenario] = (now, deployment_id, rate)
    return deployment_id, rate


def shadow_is_running(scenario: str) -> bool:
    """Whether a shadow deployment runs for `scenario` (cached per process for a few seconds)."""
    try:
        return _running_deployment(scenario)[0] is not None
    except Exception:  # never let the shadow break serving
        log.exception("could not tell whether a shadow runs for %s", scenario)
        return False


def shadow_observe(*, scenario: str, subject: str, text: str, label: str, confidence: float | None = None,
                   active_version_id: int | None = None) -> bool:
    """Record a live prediction for the running shadow of `scenario`, if any. Returns whether it
    was recorded. Never raises: shadow mode must not break serving."""
    try:
        deployment_id, rate = _running_deployment(scenario)
        if deployment_id is None or (rate < 1.0 and random.random() >= rate):
            return False
        try:
            with transaction.atomic():
                ShadowPrediction.objects.create(
                    deployment_id=deployment_id, subject=subject[:200], text=text[:MAX_TEXT_CHARS],
                    active_version_id=active_version_id, active_label=label[:100],
                    active_confidence=confidence)
        except IntegrityError:
            return False  # this input is already in the comparison (e.g. a document rescored)
        transaction.on_commit(lambda: _schedule_scoring(deployment_id))
        return True
    except Exception:  # never let the shadow break an answer
        log.exception("shadow observation for %s failed", scenario)
        return False


@dataclass(frozen=True)
class Observation:
    subject: str
    text: str
    label: str
    confidence: float | None = None
    active_version_id: int | None = None


def shadow_observe_many(*, scenario: str, observations: Iterable[Observation]) -> int:
    """`shadow_observe` for a batch (one INSERT; for batch scoring jobs). Returns how many were kept."""
    try:
        deployment_id, rate = _running_deployment(scenario)
        if deployment_id is None:
            return 0
        rows = [ShadowPrediction(deployment_id=deployment_id, subject=o.subject[:200], text=o.text[:MAX_TEXT_CHARS],
                                 active_version_id=o.active_version_id, active_label=o.label[:100],
                                 active_confidence=o.confidence)
                for o in observations if rate >= 1.0 or random.random() < rate]
        if not rows:
            return 0
        ShadowPrediction.objects.bulk_create(rows, ignore_conflicts=True)  # inputs already compared are kept once
        transaction.on_commit(lambda: _schedule_scoring(deployment_id))
        return len(rows)
    except Exception:  # never let the shadow break scoring
        log.exception("shadow observation for %s failed", scenario)
        return 0


def _schedule_scoring(deployment_id: int) -> None:
    """Queue one scoring task per deployment and batch window (cache.add is atomic)."""
    from ..queues import task_send

    try:
        if cache.add(f"core.shadow_score:{deployment_id}", 1, timeout=SHADOW_BATCH_DELAY_S):
            task_send("core.shadow_score", args=[deployment_id], countdown=SHADOW_BATCH_DELAY_S)
    except Exception:  # the next observation or the periodic sweep schedules it
        log.exception("could not queue shadow scoring for deployment %s", deployment_id)


# --- scoring (the worker side) -----------------------------------------------------------------------
_predictors: dict[tuple[int, str], Any] = {}
_predictor_lock = threading.Lock()


def _candidate_predictor(version: ModelVersion):
    """The candidate's predictor, loaded once per worker process (two kept at most)."""
    from django.conf import settings

    from ml_core.backbone import select_device
    from ml_core.serving import ClassifierPredictor

    from .model_files import model_version_files_verified

    key = (version.pk, version.sha256)  # a reused id (a test database) is not the same model
    predictor = _predictors.get(key)
    if predictor is None:
        with _predictor_lock:
            predictor = _predictors.get(key)
            if predictor is None:
                device = select_device(settings.ML_DEVICE, settings.ML_CPU_THREADS).device
                predictor = ClassifierPredictor.load(model_version_files_verified(version), device=device)
                while len(_predictors) >= 2:
                    _predictors.pop(next(iter(_predictors)))
                _predictors[key] = predictor
    return predictor


def shadow_score_pending(*, deployment_id: int, limit: int = 2000) -> int:
    """Score waiting inputs of a deployment with its candidate, in batches. Returns how many."""
    deployment = ShadowDeployment.objects.select_related("candidate").filter(pk=deployment_id).first()
    if deployment is None:
        return 0
    done = 0
    while done < limit:
        batch = list(ShadowPrediction.objects.filter(deployment=deployment, scored_at=None)
                     .order_by("id")[:SHADOW_BATCH_SIZE])
        if not batch:
            break
        try:
            predictor = _candidate_predictor(deployment.candidate)
            started = time.perf_counter()
            predictions = predictor.predict([row.text for row in batch], top_k=1)
            per_text_ms = 1000.0 * (time.perf_counter() - started) / len(batch)
        except Exception as exc:  # a broken candidate: say so on every row rather than retry forever
            log.exception("shadow candidate %s failed", deployment.candidate)
            ShadowPrediction.objects.filter(pk__in=[r.pk for r in batch]).update(
                error=f"{type(exc).__name__}: {exc}"[:300], scored_at=timezone.now())
            done += len(batch)
            continue
        now = timezone.now()
        for row, prediction in zip(batch, predictions):
            row.candidate_label = prediction.label
            row.candidate_confidence = prediction.confidence
            row.candidate_ms = round(per_text_ms, 3)
            row.scored_at = now
        ShadowPrediction.objects.bulk_update(batch, ["candidate_label", "candidate_confidence", "candidate_ms",
                                                     "scored_at"])
        done += len(batch)
    return done


def shadow_sweep() -> int:
    """Periodic safety net: score what a lost task left waiting, for every running deployment."""
    return sum(shadow_score_pending(deployment_id=pk)
               for pk in ShadowDeployment.objects.filter(is_running=True).values_list("pk", flat=True))


# --- the comparison ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComparedRow:
    active: str
    candidate: str
    active_confidence: float | None = None
    candidate_confidence: float | None = None
    truth: str | None = None


def compare_predictions(rows: Iterable[ComparedRow], *, top_disagreements: int = 10) -> dict[str, Any]:
    """Agreement and (on rows with a truth) accuracy of the active version vs the candidate."""
    rows = list(rows)
    n = len(rows)
    agree = sum(r.active == r.candidate for r in rows)
    per_label: dict[str, list[int]] = {}
    for r in rows:
        stats = per_label.setdefault(r.active, [0, 0])
        stats[0] += 1
        stats[1] += r.active == r.candidate
    disagreements = Counter((r.active, r.candidate) for r in rows if r.active != r.candidate)
    labelled = [r for r in rows if r.truth]
    active_right = sum(r.active == r.truth for r in labelled)
    candidate_right = sum(r.candidate == r.truth for r in labelled)
    only_active = sum(r.active == r.truth and r.candidate != r.truth for r in labelled)
    only_candidate = sum(r.candidate == r.truth and r.active != r.truth for r in labelled)

    def mean(values: list[float]) -> float | None:
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    return {
        "n": n, "agreement": agree / n if n else None, "agree": agree,
        "per_label": sorted(({"label": label, "n": s[0], "agreement": s[1] / s[0]} for label, s in per_label.items()),
                            key=lambda x: (x["agreement"], -x["n"], x["label"])),
        "disagreements": [{"active": a, "candidate": c, "count": k}
                          for (a, c), k in sorted(disagreements.items(), key=lambda kv: (-kv[1], kv[0]))[:top_disagreements]],
        "active_mean_confidence": mean([r.active_confidence for r in rows]),
        "candidate_mean_confidence": mean([r.candidate_confidence for r in rows]),
        "labelled": {
            "n": len(labelled),
            "active_accuracy": active_right / len(labelled) if labelled else None,
            "candidate_accuracy": candidate_right / len(labelled) if labelled else None,
            "both_right": sum(r.active == r.truth and r.candidate == r.truth for r in labelled),
            "only_active_right": only_active, "only_candidate_right": only_candidate,
            "both_wrong": sum(r.active != r.truth and r.candidate != r.truth for r in labelled),
            "mcnemar_p": mcnemar_exact_p(only_active, only_candidate),
        },
    }


def shadow_comparison(*, deployment: ShadowDeployment, examples: int = 12) -> dict[str, Any]:
    """The comparison page's figures for one deployment."""
    scored = list(ShadowPrediction.objects.filter(deployment=deployment, scored_at__isnull=False, error="")
                  .values("subject", "text", "active_label", "active_confidence", "candidate_label",
                          "candidate_confidence", "candidate_ms", "created_at"))
    resolver = _label_resolvers.get(deployment.scenario)
    truths: dict[str, str] = {}
    if resolver is not None and scored:
        try:
            truths = resolver([row["subject"] for row in scored])
        except Exception:  # the comparison still shows agreement
            log.exception("label resolver of %s failed", deployment.scenario)
    rows = [ComparedRow(r["active_label"], r["candidate_label"], r["active_confidence"], r["candidate_confidence"],
                        truths.get(r["subject"])) for r in scored]
    report = compare_predictions(rows)
    timings = sorted(r["candidate_ms"] for r in scored if r["candidate_ms"] is not None)
    report["candidate_ms_p50"] = timings[len(timings) // 2] if timings else None
    report["pending"] = ShadowPrediction.objects.filter(deployment=deployment, scored_at=None).count()
    report["errors"] = ShadowPrediction.objects.filter(deployment=deployment).exclude(error="").count()
    report["has_label_source"] = resolver is not None
    report["examples"] = [
        {**{k: r[k] for k in ("subject", "text", "active_label", "active_confidence", "candidate_label",
                              "candidate_confidence", "created_at")}, "truth": truths.get(r["subject"])}
        for r in sorted(scored, key=lambda r: r["created_at"], reverse=True)
        if r["active_label"] != r["candidate_label"]][:examples]
    active = ModelVersion.objects.filter(scenario=deployment.scenario, is_active=True).first()
    report["test_set"] = {
        "active": {k: active.metrics.get(f"test_{k}") for k in ("accuracy", "macro_f1", "n")} if active else None,
        "candidate": {k: deployment.candidate.metrics.get(f"test_{k}") for k in ("accuracy", "macro_f1", "n")},
        "active_version": active.version if active else None,
    }
    return report
