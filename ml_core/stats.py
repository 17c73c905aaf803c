"""Small exact and interval statistics for comparing two models on the same examples.

Plain Python (numpy for the bootstrap only), no SciPy needed:

* `mcnemar_exact_p`: are two classifiers' error rates different, from the texts only one of
  them gets right (exact binomial test on the discordant pairs; McNemar 1947).
* `paired_accuracy_difference`: a confidence interval for accuracy(second) - accuracy(first)
  scored on the same texts (Tango's score interval, 1998: the recommended interval for paired
  non-inferiority), good down to small samples and to models that never disagree.
* `paired_bootstrap_mean_difference`: a percentile bootstrap interval for the mean of paired
  per-example differences (e.g. nDCG@10 per user of two recommenders).

A candidate is *shown no worse* than the active model (non-inferior) within a margin m when the
interval's lower end is at least -m.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

__all__ = [
    "PairedDifference",
    "binomial_two_sided_p",
    "discordant_counts",
    "mcnemar_exact_p",
    "paired_accuracy_difference",
    "paired_accuracy_from_answers",
    "paired_bootstrap_mean_difference",
]


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _log_binomial_pmf(k: int, n: int, p: float) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def binomial_two_sided_p(k: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided p-value of k successes in n trials: the probability of every outcome no
    more likely than k (as scipy.stats.binomtest)."""
    if n <= 0:
        return 1.0
    if not 0.0 < p < 1.0:
        raise ValueError("p must be strictly between 0 and 1")
    logs = [_log_binomial_pmf(i, n, p) for i in range(n + 1)]
    cutoff = logs[k] + 1e-7  # outcomes tied with k (up to rounding) count as extreme
    extreme = [v for v in logs if v <= cutoff]
    top = max(extreme)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in extreme))


def mcnemar_exact_p(only_first_right: int, only_second_right: int) -> float | None:
    """Two-sided exact McNemar p-value; None when no text is right for one model only."""
    discordant = int(only_first_right) + int(only_second_right)
    if discordant == 0:
        return None
    return binomial_two_sided_p(int(only_second_right), discordant, 0.5)


@dataclass(frozen=True)
class PairedDifference:
    """second - first, with its interval, on n paired examples."""

    n: int
    first: float
    second: float
    difference: float
    low: float
    high: float
    confidence: float
    p_value: float | None = None  # of "no difference" (exact McNemar for accuracies)

    def no_worse_within(self, margin: float) -> bool:
        """Whether the interval excludes the second being worse than the first by more than `margin`."""
        return self.n > 0 and self.low >= -margin

    def to_dict(self) -> dict:
        return asdict(self)


def _tango_z(delta: float, b: int, c: int, n: int) -> float:
    """Tango's score statistic for H0: p(only second right) - p(only first right) = delta."""
    # The constrained maximum-likelihood p(only first right), the positive root of 2n p^2 - B p - C = 0.
    big_b = (b + c) * (1 - delta) - 2 * delta * (n - c)
    big_c = b * delta * (1 - delta)
    p_first = (big_b + math.sqrt(max(0.0, big_b * big_b + 8 * n * big_c))) / (4 * n)
    variance = n * (2 * p_first + delta - delta * delta)
    if variance <= 0:
        return math.inf if c - b - n * delta > 0 else -math.inf
    return (c - b - n * delta) / math.sqrt(variance)


def _root(f, low: float, high: float, target: float) -> float:
    """The point where the decreasing function f crosses target, by bisection."""
    for _ in range(80):
        mid = (low + high) / 2
        if f(mid) > target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def paired_accuracy_difference(*, both_right: int, only_first_right: int, only_second_right: int,
                               both_wrong: int, confidence: float = 0.95) -> PairedDifference:
    """accuracy(second) - accuracy(first) on the same texts, with Tango's score interval (1998).

    The interval inverts the score test of the paired difference, so it keeps a width even when
    the two models never disagree (30 identical answers cannot show that two models are within a
    point of each other; 300 can), where plug-in intervals collapse to a point.
    """
    a, b, c, d = (int(x) for x in (both_right, only_first_right, only_second_right, both_wrong))
    n = a + b + c + d
    if n == 0:
        return PairedDifference(0, 0.0, 0.0, 0.0, -1.0, 1.0, confidence, None)
    z = _z(confidence)
    estimate = (c - b) / n

    def score(delta: float) -> float:
        return _tango_z(delta, b, c, n)

    low = -1.0 if score(-1.0 + 1e-12) <= z else _root(score, -1.0 + 1e-12, estimate, z)
    high = 1.0 if score(1.0 - 1e-12) >= -z else _root(score, estimate, 1.0 - 1e-12, -z)
    return PairedDifference(n, (a + b) / n, (a + c) / n, estimate, max(-1.0, low), min(1.0, high), confidence,
                            mcnemar_exact_p(b, c))


def discordant_counts(first_right: Sequence[bool], second_right: Sequence[bool]) -> tuple[int, int]:
    """(texts only the first model got right, texts only the second got right)."""
    pairs = list(zip(first_right, second_right, strict=True))
    return sum(bool(a) and not b for a, b in pairs), sum(bool(b) and not a for a, b in pairs)


def paired_accuracy_from_answers(first_right: Sequence[bool], second_right: Sequence[bool], *,
                                 confidence: float = 0.95) -> PairedDifference:
    """paired_accuracy_difference from each text's right/wrong under the first and second model."""
    only_first, only_second = discordant_counts(first_right, second_right)
    both_right = sum(bool(a) and bool(b) for a, b in zip(first_right, second_right))
    return paired_accuracy_difference(
        both_right=both_right, only_first_right=only_first, only_second_right=only_second,
        both_wrong=len(first_right) - both_right - only_first - only_second, confidence=confidence)


def paired_bootstrap_mean_difference(first: Sequence[float], second: Sequence[float], *,
                                     confidence: float = 0.95, resamples: int = 2000,
                                     seed: int = 0) -> PairedDifference:
    """mean(second - first) over paired examples, with a percentile bootstrap interval
    (examples resampled with replacement, the pairs kept together; seeded, so repeatable)."""
    import numpy as np

    x = np.asarray(first, dtype=np.float64)
    y = np.asarray(second, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError("paired values need the same length")
    n = int(x.size)
    if n == 0:
        return PairedDifference(0, 0.0, 0.0, 0.0, -math.inf, math.inf, confidence, None)
    _z(confidence)  # validates
    differences = y - x
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // n)  # bound the memory of the index matrix
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = differences[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return PairedDifference(n, float(x.mean()), float(y.mean()), float(differences.mean()), float(low), float(high),
                            confidence, None)
