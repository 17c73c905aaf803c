"""ml_core.stats: the exact and interval statistics behind the activation policy and shadow mode."""
import math

import numpy as np
import pytest
from scipy.stats import binomtest

from ml_core.stats import (
    binomial_two_sided_p,
    mcnemar_exact_p,
    paired_accuracy_difference,
    paired_bootstrap_mean_difference,
)


@pytest.mark.parametrize("k,n,p", [(0, 1, 0.5), (3, 10, 0.5), (7, 10, 0.5), (0, 20, 0.5), (13, 40, 0.5),
                                   (480, 1000, 0.5), (3, 10, 0.3), (7, 20, 0.3), (0, 5, 0.1)])
def test_the_exact_binomial_test_agrees_with_scipy(k, n, p):
    assert binomial_two_sided_p(k, n, p) == pytest.approx(binomtest(k, n, p).pvalue, rel=1e-9)


def test_mcnemar_uses_only_the_texts_one_model_gets_right():
    assert mcnemar_exact_p(0, 10) == pytest.approx(2 * 0.5 ** 10)
    assert mcnemar_exact_p(0, 0) is None
    assert mcnemar_exact_p(5, 5) == pytest.approx(1.0)


def test_identical_answers_show_no_worse_only_on_enough_texts():
    """Tango's interval keeps a width with no disagreement: z^2 / (n + z^2) on each side."""
    z2 = 1.959963984540054 ** 2
    for n in (30, 300):
        for both_right in (n, n // 2, 0):
            d = paired_accuracy_difference(both_right=both_right, only_first_right=0, only_second_right=0,
                                           both_wrong=n - both_right)
            assert d.difference == 0 and d.p_value is None
            assert d.low == pytest.approx(-z2 / (n + z2), abs=1e-6) and d.high == pytest.approx(z2 / (n + z2), abs=1e-6)
    assert not paired_accuracy_difference(both_right=30, only_first_right=0, only_second_right=0,
                                          both_wrong=0).no_worse_within(0.02)
    assert paired_accuracy_difference(both_right=300, only_first_right=0, only_second_right=0,
                                      both_wrong=0).no_worse_within(0.02)


def test_the_interval_of_a_paired_difference():
    d = paired_accuracy_difference(both_right=800, only_first_right=40, only_second_right=45, both_wrong=115)
    assert (d.first, d.second, d.difference) == pytest.approx((0.84, 0.845, 0.005))
    assert d.low == pytest.approx(-0.0133, abs=2e-4) and d.high == pytest.approx(0.0235, abs=2e-4)
    assert d.p_value == pytest.approx(binomtest(45, 85, 0.5).pvalue)
    # Better on 3 of 6 texts: the interval still reaches below zero.
    small = paired_accuracy_difference(both_right=3, only_first_right=0, only_second_right=3, both_wrong=0)
    assert small.difference == 0.5 and small.low < 0 < small.high
    everything = paired_accuracy_difference(both_right=0, only_first_right=0, only_second_right=10, both_wrong=0)
    assert everything.high == 1.0 and everything.low > 0.4


def test_the_score_interval_covers_the_truth_as_often_as_it_says():
    """Simulated pairs of models (first right 80 %, second 78 %, agreeing on most texts)."""
    rng = np.random.default_rng(1)
    probabilities = [0.70, 0.10, 0.08, 0.12]  # both right, only first, only second, both wrong
    truth = 0.08 - 0.10
    covered = 0
    for _ in range(400):
        a, b, c, d = rng.multinomial(150, probabilities)
        interval = paired_accuracy_difference(both_right=a, only_first_right=b, only_second_right=c, both_wrong=d)
        covered += interval.low <= truth <= interval.high
    assert 0.92 <= covered / 400 <= 0.98


def test_the_paired_bootstrap_is_repeatable_and_centred():
    rng = np.random.default_rng(0)
    first = rng.uniform(0, 1, 300)
    second = first + rng.normal(0.05, 0.1, 300)
    d = paired_bootstrap_mean_difference(first, second)
    assert d == paired_bootstrap_mean_difference(first, second)  # seeded
    assert d.low < d.difference < d.high and d.difference == pytest.approx(float((second - first).mean()))
    assert d.low > 0.03 and d.high < 0.07
    assert paired_bootstrap_mean_difference([], []).n == 0 and math.isinf(paired_bootstrap_mean_difference([], []).low)
    with pytest.raises(ValueError):
        paired_bootstrap_mean_difference([1.0], [1.0, 2.0])
