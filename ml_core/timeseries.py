"""Trend buckets, baselines and surge detection for monitored text streams (plain Python).

A monitored series (all documents, one topic, one ticker) is a sequence of time buckets, each
with a volume and a count of negative documents. That count may be fractional: the app counts
the *expected* negatives, the sum of the documents' calibrated p(negative), so that a model that
puts a few more calm documents just over its decision boundary does not move the count by a
whole document each time (see `exact_tail_z` for how a fractional count is judged). A surge rule
compares the newest bucket with a baseline built from the buckets before it:

- `rolling_baseline`: the last `window` buckets, each weighted by its volume;
- `ewma_baseline`: every bucket, weighted by its volume times (1 - alpha)^age, so recent buckets
  count more (alpha = 2 / (span + 1), as pandas' `ewm(span=...)`).

For the negative *share*, the expected share p0 is the weighted mean of the buckets' shares
(with one pseudo-negative and one pseudo-positive, so a history without negatives does not make
a single negative document infinitely surprising). The bucket-to-bucket variance of the shares
is split into the binomial noise that their volumes explain and the *excess* variance that they
do not (news days differ). An observed bucket of volume n is then judged against
sigma = sqrt(p0 (1 - p0) / n + excess): small (partial) buckets are noisy and need a larger
jump, and a series that swings a lot on its own needs a larger jump too.

For the *volume*, the expected count mu and its excess variance come the same way, with Poisson
noise (variance mu) in place of binomial noise.

The z a rule compares with its threshold is read off the exact upper tail, not the normal
approximation: the probability of at least the observed count under a beta-binomial (share) or
negative binomial (volume) with the baseline's mean and variance, turned back into the standard
normal quantile with the same tail. With 10 documents an hour and p0 = 0.2, six negatives give a
normal-approximation z of 3.2, but happen by chance once in 160 hours (exact z = 2.5): judged by
the approximation, a week of quiet hourly buckets in a few topics raises false alerts.

A detection fires only when every guard holds: enough history, the minimum volume, the minimum
absolute increase and the z threshold; otherwise `reason` says which guard stopped it.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

GRANULARITIES = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
METRICS = ("negative_share", "volume")
BASELINES = ("ewma", "rolling")


@dataclass(frozen=True)
class BucketCounts:
    """One time bucket of a series: how many documents, how many of them negative (a whole count of
    labels, or the expected count: the sum of the documents' probabilities of being negative)."""

    volume: int
    negative: float = 0

    @property
    def share(self) -> float:
        return self.negative / self.volume if self.volume else 0.0


@dataclass(frozen=True)
class Baseline:
    """What a metric is expected to be in the next bucket, and how much it varies."""

    method: str
    metric: str
    expected: float  # share (0-1) or volume (documents per bucket)
    std: float  # the spread of the metric between buckets of the history
    excess_variance: float  # variance beyond sampling noise (binomial or Poisson)
    buckets: int  # buckets the baseline rests on

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Detection:
    fired: bool
    metric: str
    observed: float
    expected: float
    sigma: float  # standard deviation the observation is judged against
    z: float
    volume: int
    negative: float  # the observed bucket's (possibly expected, fractional) count of negatives
    reason: str  # why it fired, or which guard stopped it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SurgeRule:
    """The arithmetic part of an alert rule."""

    metric: str = "negative_share"
    baseline: str = "ewma"
    window: int = 24  # rolling: buckets used; ewma: span
    z_threshold: float = 3.0
    min_volume: int = 10  # documents in the observed bucket
    min_increase: float = 0.15  # share points (negative_share) or documents (volume) above expected
    min_history: int = 6  # buckets with data before the observed one

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {self.metric!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, not {self.baseline!r}")
        if self.window < 2:
            raise ValueError(f"window must be at least 2 buckets, not {self.window}")
        if self.z_threshold <= 0:
            raise ValueError("z_threshold must be positive")
        if self.min_volume < 1 or self.min_history < 1:
            raise ValueError("min_volume and min_history must be at least 1")
        if self.min_increase < 0:
            raise ValueError("min_increase must be >= 0")


def bucket_start(moment: datetime, granularity: str) -> datetime:
    """The start (UTC) of the bucket containing `moment`."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be hour or day, not {granularity!r}")
    if moment.tzinfo is None:
        raise ValueError("bucket_start needs an aware datetime")
    moment = moment.astimezone(UTC)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_end(start: datetime, granularity: str) -> datetime:
    return start + GRANULARITIES[granularity]


def _weights(history: Sequence[BucketCounts], method: str, window: int) -> list[tuple[BucketCounts, float]]:
    """(bucket, age weight) for the buckets that have data, oldest first."""
    with_data = [b for b in history if b.volume > 0]
    if method == "rolling":
        return [(b, 1.0) for b in with_data[-window:]]
    alpha = 2.0 / (window + 1.0)
    n = len(with_data)
    return [(b, (1.0 - alpha) ** (n - 1 - i)) for i, b in enumerate(with_data)]


def share_baseline(history: Sequence[BucketCounts], *, method: str = "ewma", window: int = 24) -> Baseline:
    """Expected negative share and its excess variance from the buckets in `history` (oldest first)."""
    weighted = [(b, age * b.volume) for b, age in _weights(history, method, window)]
    total = sum(w for _, w in weighted)
    if total <= 0:
        return Baseline(method, "negative_share", 0.5, 0.0, 0.0, 0)
    # One pseudo-document of each kind at the weight of an average document.
    mean_weight = total / sum(b.volume for b, _ in weighted)
    p0 = (sum(w * b.share for b, w in weighted) + mean_weight) / (total + 2 * mean_weight)
    variance = sum(w * (b.share - p0) ** 2 for b, w in weighted) / total
    binomial = sum(w * p0 * (1 - p0) / b.volume for b, w in weighted) / total
    return Baseline(method, "negative_share", p0, math.sqrt(variance), max(0.0, variance - binomial),
                    len(weighted))


def volume_baseline(history: Sequence[BucketCounts], *, method: str = "ewma", window: int = 24) -> Baseline:
    """Expected documents per bucket and the variance beyond Poisson noise.

    Empty buckets count as zero here (quiet hours are part of a volume's normal pattern), but
    only after the first bucket with data.
    """
    started = False
    series: list[BucketCounts] = []
    for bucket in history:
        started = started or bucket.volume > 0
        if started:
            series.append(bucket)
    if method == "rolling":
        weighted = [(b, 1.0) for b in series[-window:]]
    else:
        alpha = 2.0 / (window + 1.0)
        weighted = [(b, (1.0 - alpha) ** (len(series) - 1 - i)) for i, b in enumerate(series)]
    total = sum(w for _, w in weighted)
    if total <= 0:
        return Baseline(method, "volume", 0.0, 0.0, 0.0, 0)
    mu = sum(w * b.volume for b, w in weighted) / total
    variance = sum(w * (b.volume - mu) ** 2 for b, w in weighted) / total
    return Baseline(method, "volume", mu, math.sqrt(variance), max(0.0, variance - mu), len(weighted))


def baseline_for(rule: SurgeRule, history: Sequence[BucketCounts]) -> Baseline:
    build = share_baseline if rule.metric == "negative_share" else volume_baseline
    return build(history, method=rule.baseline, window=rule.window)


MAX_Z = 37.5  # the normal quantile of the smallest tail a double can hold (about 1e-308)


def exact_tail_z(metric: str, observed: BucketCounts, expected: float, excess_variance: float) -> float:
    """The standard normal quantile of P(at least the observed count) under the baseline.

    negative_share: negatives among `observed.volume` documents, beta-binomial with mean share
    `expected` and between-bucket variance `excess_variance` (binomial when it is 0);
    volume: documents in the bucket, negative binomial with mean `expected` and variance
    expected + excess (Poisson when the excess is 0).

    A fractional count of negatives (the expected count, a sum of probabilities p_i) is judged
    with the same beta-binomial over n = the bucket's documents, read in two steps:
    - n trials: each p_i lies in [0, 1], so its variance is at most m (1 - m) for its mean m
      (the Bhatia-Davis inequality); the sum of n of them therefore varies at most as much as n
      Bernoulli(m) labels do. Judging it as a count of n documents can only understate how
      surprising it is: the effective n is n, the largest that is never anti-conservative.
    - a fractional count k = j + f is randomly rounded (j + 1 with probability f, j otherwise,
      so its mean stays k), and the tail is averaged over that rounding:
      (1 - f) P(K >= j) + f P(K >= j + 1). It is continuous in k and equals the plain tail at
      whole counts, so hard labels are judged exactly as before.
    """
    from scipy import stats

    if metric == "negative_share":
        count, n, p0 = observed.negative, observed.volume, min(max(expected, 1e-9), 1 - 1e-9)
        # Beta(a, b) with mean p0 and variance excess: a + b = p0 (1 - p0) / excess - 1.
        concentration = p0 * (1 - p0) / excess_variance - 1 if excess_variance > 0 else math.inf
        if concentration > 1e9:  # no excess to speak of: binomial
            survival = lambda k: stats.binom.sf(k - 1, n, p0)
        else:
            concentration = max(concentration, 1e-6)
            survival = lambda k: stats.betabinom.sf(
                k - 1, n, p0 * concentration, (1 - p0) * concentration)
        whole = math.floor(count)
        fraction = count - whole
        tail = survival(whole) if fraction < 1e-9 else \
            (1 - fraction) * survival(whole) + fraction * survival(whole + 1)
    else:
        count, mu = observed.volume, max(expected, 1e-9)
        if excess_variance <= 0:
            tail = stats.poisson.sf(count - 1, mu)
        else:  # variance mu + mu^2 / r
            r = mu * mu / excess_variance
            tail = stats.nbinom.sf(count - 1, r, r / (r + mu))
    tail = float(tail)
    if tail >= 0.5:
        return 0.0
    return min(float(stats.norm.isf(max(tail, 1e-308))), MAX_Z)


def detect(rule: SurgeRule, history: Sequence[BucketCounts], observed: BucketCounts) -> Detection:
    """Judge the observed bucket (possibly still filling) against the baseline of `history`."""
    baseline = baseline_for(rule, history)
    if rule.metric == "negative_share":
        value = observed.share
        expected = baseline.expected
        sigma = math.sqrt(expected * (1 - expected) / max(observed.volume, 1) + baseline.excess_variance)
        unit = lambda x: f"{100 * x:.0f}%"
    else:
        value = float(observed.volume)
        expected = baseline.expected
        sigma = math.sqrt(max(expected, 1.0) + baseline.excess_variance)
        unit = lambda x: f"{x:.1f}"
    z = exact_tail_z(rule.metric, observed, expected, baseline.excess_variance) if value > expected else (
        (value - expected) / sigma if sigma > 0 else 0.0)

    def result(fired: bool, reason: str) -> Detection:
        return Detection(fired, rule.metric, value, expected, sigma, z, observed.volume, observed.negative, reason)

    if baseline.buckets < rule.min_history:
        return result(False, f"{baseline.buckets} buckets of history; the rule needs {rule.min_history}")
    if observed.volume < rule.min_volume:
        return result(False, f"volume {observed.volume} is below the minimum {rule.min_volume}")
    if value - expected < rule.min_increase:
        return result(False, f"{unit(value)} is less than {unit(rule.min_increase)} above the expected "
                             f"{unit(expected)}")
    if z < rule.z_threshold:
        return result(False, f"{unit(value)} vs expected {unit(expected)}: z = {z:.2f} is below {rule.z_threshold:g}")
    return result(True, f"{unit(value)} vs expected {unit(expected)} (z = {z:.2f}, {observed.volume} documents)")


def fill_buckets(points: Iterable[tuple[datetime, BucketCounts]], start: datetime, end: datetime,
                 granularity: str) -> list[tuple[datetime, BucketCounts]]:
    """Every bucket from `start` up to (not including) `end`, empty where `points` has none."""
    step = GRANULARITIES[granularity]
    by_start = {bucket_start(moment, granularity): counts for moment, counts in points}
    out = []
    current = bucket_start(start, granularity)
    while current < end:
        out.append((current, by_start.get(current, BucketCounts(0, 0))))
        current += step
    return out
