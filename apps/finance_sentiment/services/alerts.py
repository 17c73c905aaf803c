"""Alert rules: evaluate the buckets scoring touched, open / continue / resolve alerts, acknowledge.

The arithmetic (baselines, z-scores, guards) is ml_core.timeseries; this module reads the trend
buckets it needs and keeps the Alert rows. An alert stays open while its condition lasts: the
same rule and series firing again in the same or the next bucket updates the open alert (no new
notification); a later bucket with enough volume that does not fire resolves it. The database
allows one open alert per rule and series, so two workers cannot both open one.

A negative-share rule counts the expected negatives of each bucket by default (the sum of the
documents' calibrated p(negative); FINANCE_ALERT_NEGATIVES, see services.trends), so whether an
alert opens does not hinge on which side of one model's decision boundary a few calm documents
fall. `Alert.negative` keeps that count rounded to whole documents.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from ml_core.timeseries import GRANULARITIES, Detection, SurgeRule, bucket_end, detect

from ..models import Alert, AlertDelivery, AlertRule, Document, Topic
from .sends import delivery_send
from .trends import TrendKey, alert_negative_field, bucket_counts, bucket_history

log = logging.getLogger(__name__)

DRIVING_DOCUMENTS = 10
MAX_DRIVING_DOCUMENTS = 30
EWMA_LOOKBACK_SPANS = 4  # weights older than 4 spans are below e^-8: not worth reading
MAX_LOOKBACK_BUCKETS = 2000


def surge_rule(rule: AlertRule) -> SurgeRule:
    return SurgeRule(metric=rule.metric, baseline=rule.baseline, window=rule.window, z_threshold=rule.z_threshold,
                     min_volume=rule.min_volume, min_increase=rule.min_increase, min_history=rule.min_history)


def lookback_buckets(rule: AlertRule) -> int:
    buckets = rule.window if rule.baseline == "rolling" else rule.window * EWMA_LOOKBACK_SPANS
    return min(buckets, MAX_LOOKBACK_BUCKETS)


def _topic_id(series: str) -> int | None:
    return int(series.split(":", 1)[1]) if series.startswith("topic:") else None


def rule_applies(rule: AlertRule, series: str) -> bool:
    topic_id = _topic_id(series)
    return topic_id is not None and (rule.topic_id is None or rule.topic_id == topic_id)


def alerts_evaluate(*, touched: Iterable[TrendKey]) -> list[Alert]:
    """Evaluate every active rule on the buckets that changed; returns the alerts opened."""
    by_series: dict[tuple[str, str], set[datetime]] = defaultdict(set)
    for series, granularity, start in touched:
        if series.startswith("topic:"):
            by_series[(series, granularity)].add(start)
    if not by_series:
        return []
    rules = list(AlertRule.objects.filter(is_active=True).select_related("topic"))
    active_topics = set(Topic.objects.filter(is_active=True).values_list("pk", flat=True))
    opened = []
    for rule in rules:
        for (series, granularity), starts in sorted(by_series.items()):
            if granularity != rule.granularity or not rule_applies(rule, series) \
                    or _topic_id(series) not in active_topics:
                continue
            for start in sorted(starts):
                alert = alert_evaluate_bucket(rule=rule, series=series, start=start)
                if alert is not None:
                    opened.append(alert)
    return opened


def _history_without_alerts(rule: AlertRule, series: str, start: datetime) -> list:
    """The baseline's buckets, leaving out those in which this rule already alerted on this series.

    A surge must not teach the baseline that surges are normal: with them left in, the next
    surge a few hours later would hide inside the inflated expected value and deviation.
    """
    granularity = rule.granularity
    step = GRANULARITIES[granularity]
    buckets = lookback_buckets(rule)
    first = start - step * buckets
    history = bucket_history(series=series, granularity=granularity, before=start, buckets=buckets)
    windows = list(Alert.objects.filter(rule=rule, series=series, window_end__gt=first, window_start__lt=start)
                   .values_list("window_start", "window_end"))
    if not windows:
        return history
    return [counts for n, counts in enumerate(history)
            if not any(begin <= first + n * step < end for begin, end in windows)]


def alert_evaluate_bucket(*, rule: AlertRule, series: str, start: datetime) -> Alert | None:
    """Judge one bucket of one series under one rule; returns the alert if a new one opened.

    The bucket may still be filling (it is judged again as more documents arrive); its own open
    alert's buckets are left out of the baseline (see _history_without_alerts).
    """
    granularity = rule.granularity
    observed = bucket_counts(series=series, granularity=granularity, start=start)
    history = _history_without_alerts(rule, series, start)
    detection = detect(surge_rule(rule), history, observed)
    open_alert = Alert.objects.filter(rule=rule, series=series, state=Alert.State.OPEN).first()
    end = bucket_end(start, granularity)
    step = GRANULARITIES[granularity]
    if not detection.fired:
        # Resolved by a later bucket that had enough data to judge and did not fire.
        if open_alert is not None and start >= open_alert.window_end and observed.volume >= rule.min_volume:
            Alert.objects.filter(pk=open_alert.pk, state=Alert.State.OPEN).update(
                state=Alert.State.RESOLVED, resolved_at=timezone.now())
            log.info("alert %s resolved: %s", open_alert.pk, detection.reason)
        return None
    if open_alert is not None and start < open_alert.window_start:
        return None  # a late document in an older bucket: the open alert is about now
    if open_alert is not None and start > open_alert.window_end and start - open_alert.window_end >= step:
        # The condition stopped (a gap with no judgeable bucket) and came back: a new alert.
        Alert.objects.filter(pk=open_alert.pk, state=Alert.State.OPEN).update(
            state=Alert.State.RESOLVED, resolved_at=timezone.now())
        open_alert = None
    if open_alert is not None:
        _continue(open_alert, detection, start=start, end=end)
        return None
    return _open(rule, series, detection, start=start, end=end)


def _driving_documents(*, series: str, metric: str, start: datetime, end: datetime, limit: int) -> list[int]:
    documents = Document.objects.filter(status=Document.Status.SCORED, published_at__gte=start, published_at__lt=end,
                                        topic_links__topic_id=_topic_id(series))
    if metric == "negative_share":
        documents = documents.filter(sentiment="negative").order_by("-p_negative", "-published_at")
    else:
        documents = documents.order_by("-published_at")
    return list(documents.values_list("pk", flat=True)[:limit])


def _describe(topic: Topic | None, rule: AlertRule, detection: Detection, start: datetime) -> str:
    what = "negative share" if detection.metric == "negative_share" else "volume"
    if detection.metric == "negative_share":
        values = f"{100 * detection.observed:.0f}% vs expected {100 * detection.expected:.0f}%"
    else:
        values = f"{detection.observed:.0f} documents vs expected {detection.expected:.1f}"
    window = f"{start:%Y-%m-%d %H:%M} UTC" if rule.granularity == "hour" else f"{start:%Y-%m-%d} (UTC day)"
    counted = ", negatives counted as the sum of p(negative)" if detection.metric == "negative_share" \
        and alert_negative_field() == "negative_expected" else ""
    return (f"{topic.name if topic else 'Topic'}: {what} {values} in the {rule.granularity} from {window} "
            f"({detection.volume} documents{counted}, z = {detection.z:.1f}; rule {rule.name})")[:500]


def _open(rule: AlertRule, series: str, detection: Detection, *, start: datetime, end: datetime) -> Alert | None:
    topic = Topic.objects.filter(pk=_topic_id(series)).first()
    now = timezone.now()
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule, topic=topic, series=series, metric=detection.metric, granularity=rule.granularity,
                window_start=start, window_end=end, observed=detection.observed, expected=detection.expected,
                sigma=detection.sigma, z=detection.z, volume=detection.volume, negative=round(detection.negative),
                peak_observed=detection.observed, message=_describe(topic, rule, detection, start), last_seen_at=now,
            )
            alert.documents.set(_driving_documents(series=series, metric=detection.metric, start=start, end=end,
                                                   limit=DRIVING_DOCUMENTS))
            deliveries = []
            if rule.recipients:
                deliveries.append(AlertDelivery(alert=alert, channel=AlertDelivery.Channel.EMAIL,
                                                target=", ".join(rule.recipients), next_attempt_at=now))
            if rule.webhook_url:
                deliveries.append(AlertDelivery(alert=alert, channel=AlertDelivery.Channel.WEBHOOK,
                                                target=rule.webhook_url, next_attempt_at=now))
            created = AlertDelivery.objects.bulk_create(deliveries)
            for delivery in created:
                transaction.on_commit(lambda pk=delivery.pk: delivery_send(delivery_id=pk))
    except IntegrityError:
        log.info("another worker opened the alert for %s under rule %s first", series, rule.pk)
        return None
    log.warning("alert %s opened: %s", alert.pk, alert.message)
    return alert


def _continue(alert: Alert, detection: Detection, *, start: datetime, end: datetime) -> None:
    """The condition still holds: refresh the figures; no new notification."""
    rule = alert.rule
    topic = alert.topic
    fields = {"observed": detection.observed, "expected": detection.expected, "sigma": detection.sigma,
              "z": detection.z, "volume": detection.volume, "negative": round(detection.negative),
              "last_seen_at": timezone.now(), "window_end": max(alert.window_end, end),
              "peak_observed": max(alert.peak_observed, detection.observed),
              "message": _describe(topic, rule, detection, start)}
    Alert.objects.filter(pk=alert.pk).update(**fields)
    have = set(alert.documents.values_list("pk", flat=True))
    if len(have) < MAX_DRIVING_DOCUMENTS:
        extra = [pk for pk in _driving_documents(series=alert.series, metric=detection.metric, start=start, end=end,
                                                 limit=MAX_DRIVING_DOCUMENTS) if pk not in have]
        alert.documents.add(*extra[: MAX_DRIVING_DOCUMENTS - len(have)])


def alert_acknowledge(*, alert: Alert, user) -> Alert:
    """Mark an alert as seen and handled by an operator (idempotent: the first one counts)."""
    Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user if user and user.is_authenticated else None)
    alert.refresh_from_db()
    return alert
