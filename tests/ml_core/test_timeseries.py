"""ml_core.timeseries: buckets, baselines and surge detection on fixed numbers worked out by hand."""
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from scipy import stats

from ml_core.timeseries import (
    BucketCounts,
    SurgeRule,
    bucket_start,
    detect,
    exact_tail_z,
    fill_buckets,
    share_baseline,
    volume_baseline,
)


def test_buckets_are_utc_hours_and_days():
    moment = datetime(2024, 3, 1, 23, 45, 10, tzinfo=timezone(timedelta(hours=-2)))
    assert bucket_start(moment, "hour") == datetime(2024, 3, 2, 1, 0, tzinfo=UTC)
    assert bucket_start(moment, "day") == datetime(2024, 3, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        bucket_start(datetime(2024, 3, 1), "hour")
    with pytest.raises(ValueError, match="hour or day"):
        bucket_start(moment, "week")
    filled = fill_buckets([(datetime(2024, 3, 1, 2, 30, tzinfo=UTC), BucketCounts(5, 1))],
                          datetime(2024, 3, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, 4, tzinfo=UTC), "hour")
    assert [(s.hour, c.volume) for s, c in filled] == [(1, 0), (2, 5), (3, 0)]


def test_rolling_share_baseline_by_hand():
    history = [BucketCounts(10, 1), BucketCounts(0, 0), BucketCounts(30, 6), BucketCounts(20, 2)]
    baseline = share_baseline(history, method="rolling", window=3)
    # The last 3 buckets *with data*: shares 0.1, 0.2, 0.1 weighted 10, 30, 20 (+1 pseudo-count each way).
    mean_weight = 1.0
    p0 = (1 + 6 + 2 + mean_weight) / (60 + 2 * mean_weight)
    assert baseline.expected == pytest.approx(p0)
    variance = (10 * (0.1 - p0) ** 2 + 30 * (0.2 - p0) ** 2 + 20 * (0.1 - p0) ** 2) / 60
    assert baseline.std == pytest.approx(math.sqrt(variance))
    binomial = (10 * p0 * (1 - p0) / 10 + 30 * p0 * (1 - p0) / 30 + 20 * p0 * (1 - p0) / 20) / 60
    assert baseline.excess_variance == pytest.approx(max(0.0, variance - binomial))
    assert baseline.buckets == 3


def test_ewma_weights_recent_buckets_more():
    old_calm_recent_bad = [BucketCounts(20, 2)] * 20 + [BucketCounts(20, 10)] * 3
    ewma = share_baseline(old_calm_recent_bad, method="ewma", window=6)
    rolling = share_baseline(old_calm_recent_bad, method="rolling", window=23)
    assert ewma.expected > rolling.expected > 0.1
    alpha = 2 / 7
    weights = [(1 - alpha) ** (22 - i) * 20 for i in range(23)]
    shares = [0.1] * 20 + [0.5] * 3
    pseudo = sum(weights) / (23 * 20)  # the pseudo-counts weigh as much as an average document
    expected = (sum(w * s for w, s in zip(weights, shares)) + pseudo) / (sum(weights) + 2 * pseudo)
    assert ewma.expected == pytest.approx(expected)


def test_volume_baseline_counts_quiet_buckets_as_zero():
    history = [BucketCounts(0)] * 3 + [BucketCounts(10), BucketCounts(0), BucketCounts(20)]
    baseline = volume_baseline(history, method="rolling", window=10)
    assert baseline.buckets == 3  # from the first bucket with data on
    assert baseline.expected == pytest.approx(10.0)
    assert baseline.std == pytest.approx(math.sqrt(200 / 3))
    assert baseline.excess_variance == pytest.approx(200 / 3 - 10)


CALM = [BucketCounts(40, 4)] * 48  # 10% negative every hour


def test_a_surge_fires_and_each_guard_says_why_it_did_not():
    rule = SurgeRule(window=24, z_threshold=3.0, min_volume=10, min_increase=0.15, min_history=6)
    surge = detect(rule, CALM, BucketCounts(20, 12))
    assert surge.fired and surge.observed == 0.6
    p0 = share_baseline(CALM, method="ewma", window=24).expected
    assert surge.expected == pytest.approx(p0)
    assert surge.sigma == pytest.approx(math.sqrt(p0 * (1 - p0) / 20))  # no excess variance: calm is binomial
    # z is the normal quantile of the exact tail: at least 12 negatives of 20 at p0.
    assert surge.z == pytest.approx(stats.norm.isf(stats.binom.sf(11, 20, p0)))
    assert 3 < surge.z < (0.6 - p0) / surge.sigma  # the approximation overstates small buckets
    assert "60% vs expected 10%" in surge.reason

    assert not detect(rule, CALM, BucketCounts(9, 9)).fired
    assert detect(rule, CALM, BucketCounts(9, 9)).reason == "volume 9 is below the minimum 10"
    assert detect(rule, CALM[:5], BucketCounts(20, 12)).reason == "5 buckets of history; the rule needs 6"
    small = detect(rule, CALM, BucketCounts(100, 22))  # +11 points: significant but not enough
    assert not small.fired and small.z > 3 and "less than 15% above" in small.reason
    noisy = detect(rule, CALM, BucketCounts(10, 3))  # +19 points on 10 documents: within noise
    assert not noisy.fired and "is below 3" in noisy.reason


def test_quiet_small_buckets_alert_no_more_often_than_the_threshold_says():
    """Ten documents an hour at 20% negative: the chance that a calm hour fires, summed exactly
    over every possible count of negatives, stays within the one-sided tail of z = 3 (0.135%).
    The normal approximation (z = (share - p0) / sigma) would fire on six negatives, which
    happens by chance about once in 160 hours."""
    history = [BucketCounts(10, 2)] * 48
    rule = SurgeRule(window=24, z_threshold=3.0, min_volume=10, min_increase=0.0)
    p0 = share_baseline(history, method="ewma", window=24).expected
    fires = [k for k in range(11) if detect(rule, history, BucketCounts(10, k)).fired]
    false_alarm_rate = sum(stats.binom.pmf(k, 10, p0) for k in fires)
    assert false_alarm_rate <= stats.norm.sf(3.0)
    six = detect(rule, history, BucketCounts(10, 6))
    assert (0.6 - p0) / six.sigma > 3 and not six.fired and "is below 3" in six.reason
    assert stats.binom.sf(5, 10, p0) > 1 / 200  # what six negatives cost under the approximation


def test_a_fractional_count_is_judged_between_its_whole_neighbours():
    """The expected count of negatives (a sum of probabilities) is read as a randomly rounded count:
    the tail is the average over the rounding, exact at whole counts, continuous in between."""
    def z(negative, excess=0.0):
        return exact_tail_z("negative_share", BucketCounts(20, negative), 0.1, excess)

    assert z(6) == z(6.0) == pytest.approx(stats.norm.isf(stats.binom.sf(5, 20, 0.1)))
    assert z(6.25) == pytest.approx(stats.norm.isf(0.75 * stats.binom.sf(5, 20, 0.1) + 0.25 * stats.binom.sf(6, 20, 0.1)))
    assert z(6) < z(6.25) < z(6.5) < z(7) and z(6.999999) == pytest.approx(z(7), rel=1e-4)
    # The beta-binomial (between-bucket excess variance) reads it the same way.
    a, b = 0.1 * 99, 0.9 * 99  # concentration 99: excess variance p0 (1 - p0) / 100
    tail = 0.5 * stats.betabinom.sf(5, 20, a, b) + 0.5 * stats.betabinom.sf(6, 20, a, b)
    assert z(6.5, excess=0.0009) == pytest.approx(stats.norm.isf(tail))


def test_expected_counts_of_calm_buckets_are_judged_conservatively():
    """Probabilities in [0, 1] with mean m vary at most as much as labels (Bhatia-Davis), so
    judging their sum as a count of n documents fires no more often than the threshold says:
    4,000 calm buckets of documents whose p(negative) is spread like a model's (Beta(0.6, 3.4),
    mean 0.15) against the one-sided tail of z = 2 (2.3 %)."""
    import numpy as np

    rng = np.random.default_rng(3)
    p = rng.beta(0.6, 3.4, size=(4000, 12))
    z = [exact_tail_z("negative_share", BucketCounts(12, float(k)), 0.15, 0.0) for k in p.sum(axis=1)]
    assert float(np.mean(np.array(z) >= 2.0)) <= stats.norm.sf(2.0)


def test_borderline_calm_documents_move_labels_by_whole_documents_and_expected_counts_by_their_probability():
    """A model that puts 8 calm documents of an hour just over its boundary (p(negative) 0.52)
    raises a labels alert; their expected count does not, and a real surge still fires."""
    rule = SurgeRule()
    labels = detect(rule, [BucketCounts(20, 2)] * 48, BucketCounts(20, 8))
    calm_history = [BucketCounts(20, 2 * 0.9 + 18 * 0.01)] * 48
    expected = detect(rule, calm_history, BucketCounts(20, 8 * 0.52 + 12 * 0.01))
    surge = detect(rule, calm_history, BucketCounts(20, 12 * 0.9 + 8 * 0.01))
    assert labels.fired and not expected.fired and expected.negative == pytest.approx(4.28)
    assert surge.fired and surge.z > 4


def test_a_series_that_swings_needs_a_bigger_jump():
    swinging = [BucketCounts(40, 4), BucketCounts(40, 16)] * 24  # 10% and 40% alternately
    rule = SurgeRule(window=24, min_increase=0.1)
    calm_result = detect(rule, CALM, BucketCounts(40, 20))
    swinging_result = detect(rule, swinging, BucketCounts(40, 20))
    assert calm_result.fired and not swinging_result.fired
    assert swinging_result.sigma > calm_result.sigma


def test_volume_surges():
    rule = SurgeRule(metric="volume", baseline="rolling", window=24, min_increase=20, min_volume=10)
    steady = [BucketCounts(30, 3)] * 24
    assert detect(rule, steady, BucketCounts(80, 5)).fired
    assert not detect(rule, steady, BucketCounts(45, 5)).fired  # +15 < min_increase


def test_rules_check_their_options():
    with pytest.raises(ValueError, match="metric must be one of"):
        SurgeRule(metric="mean")
    with pytest.raises(ValueError, match="baseline must be one of"):
        SurgeRule(baseline="median")
    with pytest.raises(ValueError, match="window must be at least 2"):
        SurgeRule(window=1)
