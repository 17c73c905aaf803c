"""Two blends of the same fitted components, ranked for the same test users: per-user figures.

`evaluate_models` fits the components on the training part once; `compare_blends` ranks the
test users with the candidate's weights and with another version's weights on those same
fitted components, so the two recipes are compared on identical data (a paired comparison, one
pair per user) instead of comparing figures measured on different splits.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .data import Interactions, RecsysDataError
from .metrics import top_k
from .training import EvaluationResult, _hits, blend, make_eval_set, standardise


@dataclass
class BlendComparison:
    users: int
    k: int
    candidate_ndcg: list[float]  # per evaluated user, same order in both lists
    baseline_ndcg: list[float]
    top_item_share: float  # share of users whose first recommendation is the most common first one
    top_item: str | None


def ndcg_per_user(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """nDCG@k of each row of a users x k hit matrix (metrics_from_hits averages these)."""
    hits = np.asarray(hits, dtype=np.float64)
    if hits.shape[1] < k:  # a catalogue smaller than k: the missing ranks are misses
        hits = np.pad(hits, ((0, 0), (0, k - hits.shape[1])))
    discount = 1.0 / np.log1p(np.arange(1, k + 1, dtype=np.float64))
    ideal = np.cumsum(discount)[np.minimum(np.asarray(n_relevant), k).astype(int) - 1]
    return (hits @ discount) / ideal


def compare_blends(result: EvaluationResult, *, train: Interactions, test: Interactions, item_ids: Sequence[str],
                   candidate_weights: dict[str, float], baseline_weights: dict[str, float],
                   k: int) -> BlendComparison:
    """Per-user nDCG@k of two weightings of `result.models` (fitted on `train`) on `test`'s users."""
    evalset = make_eval_set(train, test, item_ids)
    if len(evalset.user_rows) == 0:
        raise RecsysDataError("no test user has training interactions: nothing to compare on")
    excluded = evalset.excluded
    history = evalset.history
    names = {n for n in (*candidate_weights, *baseline_weights) if n in result.models}
    standardised = {name: standardise(result.models[name].score(history), excluded) for name in sorted(names)}

    def ranked(weights: dict[str, float]) -> np.ndarray:
        return top_k(np.where(excluded, -np.inf, blend(standardised, weights)), k)

    candidate_top, baseline_top = ranked(candidate_weights), ranked(baseline_weights)
    firsts = Counter(candidate_top[:, 0].tolist()) if candidate_top.shape[1] else Counter()
    top_item, count = firsts.most_common(1)[0] if firsts else (None, 0)
    return BlendComparison(
        users=len(evalset.user_rows), k=k,
        candidate_ndcg=ndcg_per_user(_hits(candidate_top, evalset.relevant), evalset.n_relevant, k).tolist(),
        baseline_ndcg=ndcg_per_user(_hits(baseline_top, evalset.relevant), evalset.n_relevant, k).tolist(),
        top_item_share=count / len(evalset.user_rows),
        top_item=item_ids[top_item] if top_item is not None else None,
    )
