"""Ranking metrics against examples worked out by hand (Recommenders' definitions)."""
import math

import numpy as np
import pytest

from ml_core.recsys.metrics import (
    catalogue_coverage,
    intra_list_diversity,
    metrics_from_hits,
    novelty,
    ranking_metrics,
    top_k,
)


def test_one_user_by_hand():
    # Top-5: a b c d e; relevant: a, c and x (x was never recommended).
    metrics = ranking_metrics({"u": ["a", "b", "c", "d", "e"]}, {"u": {"a", "c", "x"}}, k=5)
    assert metrics["precision@5"] == pytest.approx(2 / 5)
    assert metrics["recall@5"] == pytest.approx(2 / 3)
    # Hits at ranks 1 and 3: precision there 1/1 and 2/3, divided by the 3 relevant items.
    assert metrics["map"] == pytest.approx((1 + 2 / 3) / 3)
    dcg = 1 / math.log(2) + 1 / math.log(4)
    ideal = 1 / math.log(2) + 1 / math.log(3) + 1 / math.log(4)
    assert metrics["ndcg@5"] == pytest.approx(dcg / ideal)
    assert metrics["users"] == 1


def test_map_divides_by_all_relevant_items_not_by_k():
    # Ten hits out of ten, but twelve relevant items: Recommenders' `map` gives 10/12, not 1.
    hits = np.ones((1, 10))
    metrics = metrics_from_hits(hits, np.array([12]), k=10)
    assert metrics["map"] == pytest.approx(10 / 12)
    assert metrics["ndcg@10"] == pytest.approx(1.0)
    assert metrics["recall@10"] == pytest.approx(10 / 12)


def test_averaged_over_users_including_those_without_hits():
    metrics = ranking_metrics({"hit": ["a", "b"], "miss": ["c", "d"], "no-truth": ["e", "f"]},
                              {"hit": {"b"}, "miss": {"z"}}, k=2)
    assert metrics["users"] == 2  # a user without relevant items is not evaluated
    assert metrics["precision@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert metrics["map"] == pytest.approx((1 / 2 + 0) / 2)  # hit at rank 2: precision 1/2, one relevant
    assert metrics["ndcg@2"] == pytest.approx(((1 / math.log(3)) / (1 / math.log(2))) / 2)


def test_short_lists_count_as_misses():
    metrics = ranking_metrics({"u": ["a"]}, {"u": {"a"}}, k=3)
    assert metrics["precision@3"] == pytest.approx(1 / 3)
    assert metrics["ndcg@3"] == pytest.approx(1.0)


def test_coverage_novelty_and_diversity():
    lists = {"u1": ["a", "b"], "u2": ["a", "c"]}
    assert catalogue_coverage(lists, 10) == pytest.approx(0.3)
    # a was had by 4 of 8 users, b by 2, c by nobody (counted as one): -log2 of each share.
    expected = np.mean([1, 2, 1, 3])
    assert novelty(lists, {"a": 4, "b": 2}, n_users=8) == pytest.approx(expected)
    vectors = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0]), "c": np.array([1.0, 0.0])}
    # u1: orthogonal pair, distance 1; u2: identical pair, distance 0.
    assert intra_list_diversity(lists, vectors) == pytest.approx(0.5)


def test_top_k_is_best_first_and_breaks_ties_by_index():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, -np.inf]])
    assert top_k(scores, 3).tolist() == [[1, 3, 2]]
    assert top_k(scores, 10).shape == (1, 5)
