"""Why was an item recommended: which history items drove it, and the profile its text matched.

Both parts of the recommender that look at the user's history decompose exactly into one term
per history item (ml_core.recsys.models):
- behaviour (item-kNN): score(i) = Σ_j w_j · sim(j, i), so history item j contributes w_j · sim(j, i);
- content: score(i) = p · v_i with the profile p = Σ_j r_j v_j / |Σ_j r_j v_j| (r: recency-weighted
  interaction weights, v: centred, normalised text embeddings), so j contributes r_j (v_j · v_i) / |Σ r v|.
`history_contributions` returns those terms, largest first, with each item's share of the sum.
The profile and the catalogue mean it returns are what ml_core.trust.explain.SimilarityExplainer
needs to say which words of the recommended item's text matched the profile.
(ALS and BPR scores are dot products of learnt factors: they do not split by history item, so
the behaviour part is item-kNN's.)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def history_contributions(recommender, history: Sequence, item_id: str, *, top: int = 5) -> dict[str, Any]:
    """Per history item: its behaviour and content contributions to `item_id`'s scores."""
    if item_id not in recommender.index_of:
        raise KeyError(item_id)
    target = recommender.index_of[item_id]
    known, batch = recommender._history(history)
    if not known:
        return {"item": item_id, "contributions": [], "profile": None, "centre": None}
    cols = [recommender.index_of[e.item_id] for e in known]
    content = recommender.content
    recency = np.asarray(content.recency_weights(batch).todense(), dtype=np.float64)[0, cols]
    vectors = content.vectors[cols].astype(np.float64)
    combined = recency @ vectors
    norm = float(np.linalg.norm(combined)) or 1.0
    text_terms = recency * (vectors @ content.vectors[target].astype(np.float64)) / norm
    raw = np.asarray(batch.weights.todense(), dtype=np.float64)[0, cols]
    if recommender.knn is not None:
        similarity = np.asarray(recommender.knn.similarity[cols][:, [target]].todense(), dtype=np.float64)[:, 0]
        behaviour_terms = raw * similarity
    else:
        behaviour_terms = np.zeros(len(cols))
    behaviour_total = float(behaviour_terms.sum())
    text_total = float(text_terms.sum())
    rows = []
    for n, event in enumerate(known):
        rows.append({
            "item": event.item_id, "title": recommender.titles[cols[n]], "kind": event.kind,
            "behaviour": float(behaviour_terms[n]), "content": float(text_terms[n]),
            "behaviour_share": float(behaviour_terms[n] / behaviour_total) if behaviour_total > 0 else None,
            "content_share": float(text_terms[n] / text_total) if text_total > 0 else None,
        })
    rows.sort(key=lambda r: (-(r["behaviour_share"] or 0.0), -r["content"], r["item"]))
    return {"item": item_id, "behaviour_score": behaviour_total, "content_score": text_total,
            "contributions": rows[:top], "history_items": len(rows),
            "profile": (combined / norm).astype(np.float32), "centre": content.mean.astype(np.float32)}
