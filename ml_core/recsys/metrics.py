"""Ranking metrics as Microsoft Recommenders computes them (python_evaluation.py), plus beyond-accuracy.

With `hits[u, r]` = 1 when the item at rank r+1 of user u's top-k list is relevant and `n_rel[u]`
the number of relevant (test) items of user u, averaged over the users that have test items and
a list:

* precision@k = hits / k
* recall@k    = hits / n_rel
* nDCG@k      = sum_r hits[r] / log(1 + rank) divided by the ideal sum over min(k, n_rel) ranks
* MAP         = sum over hits of (hits so far / rank), divided by n_rel (not by min(k, n_rel)):
                Recommenders' `map`, the figure of the README tables the anchors come from.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def metrics_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, float]:
    """Mean MAP, nDCG@k, precision@k and recall@k from a users x k hit matrix."""
    hits = np.asarray(hits, dtype=np.float64).reshape(-1, k) if np.size(hits) else np.zeros((0, k))
    n_relevant = np.asarray(n_relevant, dtype=np.float64).reshape(-1)
    users = hits.shape[0]
    if users == 0:
        return {"map": 0.0, f"ndcg@{k}": 0.0, f"precision@{k}": 0.0, f"recall@{k}": 0.0, "users": 0}
    if np.any(n_relevant <= 0):
        raise ValueError("every evaluated user needs at least one relevant item")
    ranks = np.arange(1, k + 1, dtype=np.float64)
    discount = 1.0 / np.log1p(ranks)  # natural log, as Recommenders; the base cancels out in nDCG
    dcg = hits @ discount
    ideal_discount = np.cumsum(discount)
    idcg = ideal_discount[np.minimum(n_relevant, k).astype(int) - 1]
    found = hits.sum(axis=1)
    average_precision = (hits * np.cumsum(hits, axis=1) / ranks).sum(axis=1) / n_relevant
    return {
        "map": float(average_precision.mean()),
        f"ndcg@{k}": float((dcg / idcg).mean()),
        f"precision@{k}": float((found / k).mean()),
        f"recall@{k}": float((found / n_relevant).mean()),
        "users": int(users),
    }


def hits_matrix(recommended: Sequence[Sequence], relevant: Sequence[set], k: int) -> np.ndarray:
    hits = np.zeros((len(recommended), k), dtype=np.float64)
    for row, (items, wanted) in enumerate(zip(recommended, relevant)):
        for rank, item in enumerate(list(items)[:k]):
            hits[row, rank] = item in wanted
    return hits


def ranking_metrics(recommendations: Mapping[str, Sequence], relevant: Mapping[str, set],
                    k: int = 10) -> dict[str, float]:
    """Metrics over the users that have both a list and relevant items (Recommenders' common users)."""
    users = [u for u in recommendations if relevant.get(u)]
    hits = hits_matrix([recommendations[u] for u in users], [relevant[u] for u in users], k)
    return metrics_from_hits(hits, np.array([len(relevant[u]) for u in users]), k)


def catalogue_coverage(recommendations: Mapping[str, Sequence], catalogue_size: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    shown = {item for items in recommendations.values() for item in items}
    return len(shown) / catalogue_size if catalogue_size else 0.0


def intra_list_diversity(recommendations: Mapping[str, Sequence], vectors: Mapping[str, np.ndarray]) -> float | None:
    """Mean pairwise cosine distance (1 - cosine) between the items of each list, averaged over lists."""
    per_list = []
    for items in recommendations.values():
        rows = [vectors[i] for i in items if i in vectors]
        if len(rows) < 2:
            continue
        matrix = np.asarray(rows, dtype=np.float64)
        matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        similarity = matrix @ matrix.T
        n = len(rows)
        per_list.append(1.0 - (similarity.sum() - np.trace(similarity)) / (n * (n - 1)))
    return float(np.mean(per_list)) if per_list else None


def novelty(recommendations: Mapping[str, Sequence], item_user_counts: Mapping[str, int], n_users: int) -> float | None:
    """Mean self-information -log2(p(i)) of recommended items, p(i) = share of users who had item i.

    Items nobody had in training count as seen by one user (they are maximally novel, not infinite).
    """
    values = [
        -np.log2(max(item_user_counts.get(item, 0), 1) / n_users)
        for items in recommendations.values() for item in items
    ]
    return float(np.mean(values)) if values and n_users else None


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k best scores per row, best first; ties broken by the lower index."""
    scores = np.atleast_2d(scores)
    k = min(k, scores.shape[1])
    if k <= 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    part.sort(axis=1)  # index order first, so the stable sort below breaks ties by index
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
