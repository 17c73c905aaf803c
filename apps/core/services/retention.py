"""Data retention: how long conversations, documents and other stored inputs are kept.

Apps register each kind of data they store (`register_retention`) with a function that deletes
the rows older than a cut-off and returns how many went. Admins set the age per kind on the
control page (`retention_rule_update`, audited as a settings change); the job
`core.apply_retention` (daily with beat, or "Run now") deletes what is past its age, kind by
kind, each kind in its own transaction, and records one "data.delete" audit event per kind
that lost rows, with the cut-off and the count.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import AuditEvent, Job, RetentionRule, ShadowPrediction
from .audit import audit_record
from .jobs import JobOutcome, job_start

log = logging.getLogger(__name__)

MAX_AGE_DAYS = 36500


@dataclass(frozen=True)
class RetentionKind:
    kind: str  # "customer_service.conversations"
    label: str  # "Chat conversations (with their messages)"
    delete_before: Callable[[dt.datetime], int]  # delete rows older than the cut-off; return how many
    default_days: int | None = None  # None: kept until an admin sets an age


_kinds: dict[str, RetentionKind] = {}


def register_retention(kind: RetentionKind) -> None:
    _kinds[kind.kind] = kind


def retention_kinds() -> list[RetentionKind]:
    return sorted(_kinds.values(), key=lambda k: k.kind)


def _delete_shadow_predictions(cutoff: dt.datetime) -> int:
    return ShadowPrediction.objects.filter(created_at__lt=cutoff).delete()[0]


register_retention(RetentionKind("core.shadow_predictions", "Shadow-mode inputs and predictions",
                                 _delete_shadow_predictions, default_days=90))


def retention_age(kind: RetentionKind) -> int | None:
    rule = RetentionRule.objects.filter(kind=kind.kind).first()
    return rule.max_age_days if rule is not None else kind.default_days


def retention_overview() -> list[dict]:
    rules = {r.kind: r for r in RetentionRule.objects.all()}
    return [{"kind": k, "max_age_days": rules[k.kind].max_age_days if k.kind in rules else k.default_days,
             "is_default": k.kind not in rules, "rule": rules.get(k.kind)} for k in retention_kinds()]


def retention_rule_update(*, kind: str, max_age_days: int | None, actor=None) -> RetentionRule:
    """Set how many days `kind` is kept (None: forever). Audited as a settings change."""
    if kind not in _kinds:
        raise ValidationError({"kind": f"unknown kind of data {kind!r}"})
    if max_age_days is not None and not 1 <= int(max_age_days) <= MAX_AGE_DAYS:
        raise ValidationError({"max_age_days": f"must be between 1 and {MAX_AGE_DAYS} days, or empty to keep forever"})
    before = retention_age(_kinds[kind])
    with transaction.atomic():
        rule, _ = RetentionRule.objects.select_for_update().get_or_create(kind=kind, defaults={"max_age_days": before})
        rule.max_age_days = None if max_age_days is None else int(max_age_days)
        rule.updated_by = actor if (actor is not None and actor.is_authenticated) else None
        rule.save()
        if before != rule.max_age_days:
            audit_record(action=AuditEvent.Action.SETTINGS_CHANGE, target=f"retention of {kind}", actor=actor,
                         details={"kind": kind, "max_age_days": {"from": before, "to": rule.max_age_days}})
    return rule


def retention_apply(*, now: dt.datetime | None = None, actor=None, progress=None) -> dict[str, int]:
    """Delete every kind's rows past its age. Returns {kind: rows deleted}."""
    now = now or timezone.now()
    kinds = retention_kinds()
    deleted: dict[str, int] = {}
    for n, kind in enumerate(kinds, start=1):
        days = retention_age(kind)
        if days is not None:
            cutoff = now - dt.timedelta(days=days)
            with transaction.atomic():
                count = int(kind.delete_before(cutoff) or 0)
                RetentionRule.objects.update_or_create(kind=kind.kind, defaults={
                    "last_run_at": now, "last_deleted": count, "max_age_days": days})
                if count:
                    audit_record(action=AuditEvent.Action.DATA_DELETE, target=f"{count} rows of {kind.kind}",
                                 actor=actor, details={"kind": kind.kind, "older_than": cutoff.isoformat(),
                                                       "max_age_days": days, "deleted": count})
            deleted[kind.kind] = count
            log.info("retention: deleted %s rows of %s older than %s", count, kind.kind, cutoff)
        if progress is not None:
            progress(100.0 * n / len(kinds), f"{kind.label}: {deleted.get(kind.kind, 'kept')}")
    return deleted


def retention_job_start(*, created_by=None) -> Job:
    return job_start(task="core.apply_retention", title="Delete data past its retention age", created_by=created_by)


def retention_job_run(*, job: Job, progress) -> JobOutcome:
    deleted = retention_apply(actor=job.created_by, progress=progress)
    total = sum(deleted.values())
    return JobOutcome(metrics={"deleted": total, **deleted},
                      message=f"deleted {total} rows past their age" if total else "nothing was past its age")
