"""Trend aggregates: volume, sentiment counts and score sum per series and time bucket.

Stored incrementally: scoring adds each document's contribution, rescoring adds the difference
between its new and old scores, so pages and alert rules read a handful of rows instead of
recomputing from the documents. A series is "all", "topic:<id>" or "ticker:<id>"; buckets are
hours and days in UTC.

Each bucket counts its negatives twice: `negative`, the documents labelled negative, and
`negative_expected`, the sum of their calibrated p(negative). Alert rules read the count that
FINANCE_ALERT_NEGATIVES names ("expected" by default): a model that labels a few more calm
documents negative moves the expected count by their probabilities, not by whole documents.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F

from ml_core.timeseries import GRANULARITIES, BucketCounts, bucket_start, fill_buckets

from ..models import TrendBucket

ALL = "all"
TrendKey = tuple[str, str, datetime]  # (series, granularity, bucket start)


@dataclass
class Delta:
    volume: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    score_sum: float = 0.0
    negative_expected: float = 0.0

    def add(self, label: str, score: float, p_negative: float, sign: int = 1) -> None:
        self.volume += sign
        if label in ("negative", "neutral", "positive"):
            setattr(self, label, getattr(self, label) + sign)
        self.score_sum += sign * score
        self.negative_expected += sign * p_negative

    @property
    def is_zero(self) -> bool:
        return not (self.volume or self.negative or self.neutral or self.positive or abs(self.score_sum) > 1e-12
                    or abs(self.negative_expected) > 1e-12)


def series_keys(*, topic_ids: Iterable[int] = (), ticker_ids: Iterable[int] = ()) -> list[str]:
    return [ALL, *(f"topic:{t}" for t in topic_ids), *(f"ticker:{t}" for t in ticker_ids)]


def deltas_add(deltas: dict[TrendKey, Delta], *, series: Iterable[str], published_at: datetime, label: str,
               score: float, p_negative: float, sign: int = 1) -> None:
    """Add (sign=1) or remove (sign=-1) one document's contribution to every series it belongs to."""
    for granularity in GRANULARITIES:
        start = bucket_start(published_at, granularity)
        for name in series:
            deltas.setdefault((name, granularity, start), Delta()).add(label, score, p_negative, sign)


def trends_apply(*, deltas: dict[TrendKey, Delta]) -> set[TrendKey]:
    """Write the increments: create missing buckets, then add with F() (safe under concurrency)."""
    # Sorted: two jobs updating overlapping buckets lock them in the same order (no deadlock).
    changed = dict(sorted((key, d) for key, d in deltas.items() if not d.is_zero))
    if not changed:
        return set()
    with transaction.atomic():
        TrendBucket.objects.bulk_create(
            [TrendBucket(series=s, granularity=g, start=t) for (s, g, t) in changed], ignore_conflicts=True,
        )
        for (series, granularity, start), d in changed.items():
            TrendBucket.objects.filter(series=series, granularity=granularity, start=start).update(
                volume=F("volume") + d.volume, negative=F("negative") + d.negative,
                neutral=F("neutral") + d.neutral, positive=F("positive") + d.positive,
                score_sum=F("score_sum") + d.score_sum, negative_expected=F("negative_expected") + d.negative_expected,
            )
    return set(changed)


def trend_points(*, series: str, granularity: str, start: datetime, end: datetime, fill: bool = True) -> list[dict]:
    """The series between start and end, oldest first: one point per bucket (empty ones too with fill)."""
    rows = list(TrendBucket.objects.filter(series=series, granularity=granularity, start__gte=bucket_start(start, granularity),
                                           start__lt=end).order_by("start"))
    by_start = {row.start: row for row in rows}
    if fill:
        starts = [moment for moment, _ in fill_buckets([], start, end, granularity)]
    else:
        starts = [row.start for row in rows]
    points = []
    for moment in starts:
        row = by_start.get(moment)
        volume = row.volume if row else 0
        points.append({
            "start": moment, "volume": volume,
            "negative": row.negative if row else 0, "neutral": row.neutral if row else 0,
            "positive": row.positive if row else 0,
            "mean_score": round(row.score_sum / volume, 4) if volume else None,
            "negative_share": round(row.negative / volume, 4) if volume else None,
            # The share alert rules judge by default: mean p(negative) (FINANCE_ALERT_NEGATIVES).
            "expected_negative_share": round(row.negative_expected / volume, 4) if volume else None,
        })
    return points


NEGATIVE_COUNTS = {"expected": "negative_expected", "labels": "negative"}


def alert_negative_field() -> str:
    """The bucket column alert rules count negatives with (FINANCE_ALERT_NEGATIVES)."""
    try:
        return NEGATIVE_COUNTS[settings.FINANCE_ALERT_NEGATIVES]
    except KeyError:
        raise ImproperlyConfigured(f"FINANCE_ALERT_NEGATIVES must be {' or '.join(NEGATIVE_COUNTS)}, "
                                   f"not {settings.FINANCE_ALERT_NEGATIVES!r}") from None


def _counts(volume: int, negative: float) -> BucketCounts:
    # A sum of probabilities can drift a hair outside [0, volume] after many +/- increments.
    return BucketCounts(volume, min(max(negative, 0.0), volume) if isinstance(negative, float) else negative)


def bucket_history(*, series: str, granularity: str, before: datetime, buckets: int) -> list[BucketCounts]:
    """The `buckets` buckets just before `before`, oldest first, empty ones as zero volume.

    Volume baselines count quiet periods as zeros; share baselines skip them.
    """
    first = before - GRANULARITIES[granularity] * buckets
    rows = TrendBucket.objects.filter(series=series, granularity=granularity, start__gte=first,
                                      start__lt=before).values_list("start", "volume", alert_negative_field())
    filled = fill_buckets([(s, _counts(v, n)) for s, v, n in rows], first, before, granularity)
    return [counts for _, counts in filled]


def bucket_counts(*, series: str, granularity: str, start: datetime) -> BucketCounts:
    row = TrendBucket.objects.filter(series=series, granularity=granularity, start=start).values_list(
        "volume", alert_negative_field()).first()
    return _counts(*row) if row else BucketCounts(0, 0)
