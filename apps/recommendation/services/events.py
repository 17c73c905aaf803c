"""Interaction events (view, click, like, rating, purchase) recorded in batches.

Unknown users are created; events on unknown items are rejected one by one; an event whose
`event_id` was stored before counts as a duplicate.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models import EndUser, Interaction, Item
from .batches import BatchResult, _check_batch, _external_id


def _parse_time(value: Any, errors: dict) -> dt.datetime | None:
    if value is None:
        return timezone.now()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            errors["timestamp"] = "must be a non-negative number of seconds since 1970 or an ISO 8601 time"
            return None
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            errors["timestamp"] = f"{value} seconds since 1970 is not a date this system can store"
            return None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            errors["timestamp"] = f"{value!r} is not an ISO 8601 time (e.g. 2024-05-01T12:30:00Z)"
            return None
        return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)
    errors["timestamp"] = "must be an ISO 8601 time or seconds since 1970"
    return None


def _clean_event(row: Any) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    if not isinstance(row, dict):
        return {}, {"event": "must be an object"}
    unknown = sorted(set(row) - {"user", "item", "kind", "value", "timestamp", "event_id"})
    if unknown:
        errors["fields"] = f"unknown field(s): {', '.join(unknown)}"
    clean = {"user": _external_id(row.get("user"), errors, "user"),
             "item": _external_id(row.get("item"), errors, "item")}
    kind = row.get("kind")
    if kind not in Interaction.Kind.values:
        errors["kind"] = f"must be one of {', '.join(Interaction.Kind.values)}"
    clean["kind"] = kind
    value = row.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
        errors["value"] = "must be a number"
    elif kind == Interaction.Kind.RATING and value is None:
        errors["value"] = "a rating needs its value"
    clean["value"] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    clean["occurred_at"] = _parse_time(row.get("timestamp"), errors)
    event_id = row.get("event_id")
    clean["event_id"] = _external_id(event_id, errors, "event_id") if event_id is not None else None
    return clean, errors


def _users_by_external_id(external_ids: set[str]) -> dict[str, int]:
    EndUser.objects.bulk_create([EndUser(external_id=e) for e in external_ids], ignore_conflicts=True,
                                batch_size=500)
    return dict(EndUser.objects.filter(external_id__in=external_ids).values_list("external_id", "pk"))


def interactions_record(*, events: Any) -> BatchResult:
    """Store interaction events; unknown users are created, unknown items are rejected per event.

    An event whose `event_id` was stored before is counted as a duplicate, not stored again.
    """
    rows = _check_batch(events, "events")
    result = BatchResult()
    cleaned: list[tuple[int, dict, dict]] = [(n, *_clean_event(row)) for n, row in enumerate(rows)]
    item_pks = dict(Item.objects.filter(
        external_id__in={c["item"] for _, c, e in cleaned if c.get("item") and "item" not in e}
    ).values_list("external_id", "pk"))
    known_event_ids = set(Interaction.objects.filter(
        event_id__in={c["event_id"] for _, c, e in cleaned if c.get("event_id") and not e}
    ).values_list("event_id", flat=True))
    good: list[dict] = []
    batch_event_ids: set[str] = set()
    for index, clean, errors in cleaned:
        if not errors and clean["item"] not in item_pks:
            errors = {"item": f"unknown item {clean['item']!r}: upsert it first"}
        if errors:
            result.rejected.append({"index": index, "errors": errors})
            continue
        if clean["event_id"] and (clean["event_id"] in known_event_ids or clean["event_id"] in batch_event_ids):
            result.duplicates += 1
            continue
        if clean["event_id"]:
            batch_event_ids.add(clean["event_id"])
        good.append(clean)
    if good:
        with transaction.atomic():
            user_pks = _users_by_external_id({c["user"] for c in good})
            Interaction.objects.bulk_create([
                Interaction(user_id=user_pks[c["user"]], item_id=item_pks[c["item"]], kind=c["kind"],
                            value=c["value"], occurred_at=c["occurred_at"], event_id=c["event_id"])
                for c in good
            ], batch_size=1000, ignore_conflicts=any(c["event_id"] for c in good))
        result.created = len(good)
    return result
