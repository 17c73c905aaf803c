"""Keep only augmented texts that still carry their label and add something new.

Label check (`mode`):
- "encoder": a logistic regression fitted on the encoder embeddings of the original examples
  must predict the augmented text's label (the encoder "agrees" it means the same);
- "model": a trained classifier (e.g. the scenario's active version) must predict it;
- "none": no label check.
Near-duplicates are dropped in every mode: texts equal to an original or to another augmented
text once case and punctuation are ignored, and texts whose embedding is within
`duplicate_similarity` (cosine) of their source or of an augmented text already kept.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UserError
from ..progress import ProgressCallback, no_progress
from .text import normalised

FILTER_MODES = ("encoder", "model", "none")


@dataclass
class Candidate:
    text: str
    label: str
    op: str  # the augmenter that made it
    source: int  # index of the original example


@dataclass
class FilterResult:
    kept: list[Candidate]
    stats: dict[str, dict[str, int]] = field(default_factory=dict)  # per op: generated, kept, dropped_*

    def summary(self) -> dict[str, Any]:
        total = {key: sum(s.get(key, 0) for s in self.stats.values())
                 for key in ("generated", "kept", "dropped_label", "dropped_duplicate")}
        return {"per_op": self.stats, **total}


def _encoder_predictions(original_vectors: np.ndarray, original_labels: Sequence[str],
                         candidate_vectors: np.ndarray, seed: int) -> list[str]:
    from sklearn.linear_model import LogisticRegression

    labels = sorted(set(original_labels))
    if len(labels) < 2:
        return [labels[0]] * len(candidate_vectors)
    classifier = LogisticRegression(C=10.0, max_iter=2000, random_state=seed)
    classifier.fit(original_vectors, list(original_labels))
    return list(classifier.predict(candidate_vectors))


def filter_candidates(
    originals: Sequence[str],
    original_labels: Sequence[str],
    candidates: list[Candidate],
    *,
    mode: str = "encoder",
    embedder=None,
    predictor=None,
    duplicate_similarity: float = 0.97,
    seed: int = 0,
    progress: ProgressCallback = no_progress,
) -> FilterResult:
    """Candidates that pass the label check and are not near-duplicates, with counts per op.

    `embedder` (a TextEmbedder) is needed for the near-duplicate check and mode "encoder";
    `predictor` (a ClassifierPredictor) for mode "model".
    """
    if mode not in FILTER_MODES:
        raise UserError(f"augmentation filter must be one of {', '.join(FILTER_MODES)}, not {mode!r}")
    if mode == "model" and predictor is None:
        raise UserError("augmentation filter 'model' needs a trained model (filter_model: a model folder)")
    stats: dict[str, dict[str, int]] = {}
    for c in candidates:
        stats.setdefault(c.op, {"generated": 0, "kept": 0, "dropped_label": 0, "dropped_duplicate": 0})
        stats[c.op]["generated"] += 1

    # 1. exact duplicates (of an original or of an earlier candidate) and empty texts
    seen = {normalised(t) for t in originals}
    unique: list[Candidate] = []
    for c in candidates:
        key = normalised(c.text)
        if not key or key in seen:
            stats[c.op]["dropped_duplicate"] += 1
            continue
        seen.add(key)
        unique.append(c)
    if not unique:
        return FilterResult([], stats)

    progress(5.0, f"embedding {len(originals)} originals and {len(unique)} augmented texts")
    vectors = embedder.embed(list(originals) + [c.text for c in unique]) if embedder is not None else None
    original_vectors = vectors[: len(originals)] if vectors is not None else None
    candidate_vectors = vectors[len(originals):] if vectors is not None else None

    # 2. the label check
    progress(60.0, "checking that augmented texts keep their label")
    if mode == "encoder":
        if embedder is None:
            raise UserError("augmentation filter 'encoder' needs the encoder")
        predicted = _encoder_predictions(original_vectors, original_labels, candidate_vectors, seed)
    elif mode == "model":
        known = set(predictor.labels)
        probabilities = predictor.predict_proba([c.text for c in unique])
        predicted = [predictor.labels[int(i)] for i in probabilities.argmax(axis=1)]
        predicted = [p if c.label in known else c.label for p, c in zip(predicted, unique)]  # unknown: no opinion
    else:
        predicted = [c.label for c in unique]

    # 3. near-duplicates in embedding space: of the source, or of a kept text of the same label
    kept: list[Candidate] = []
    kept_vectors: dict[str, list[np.ndarray]] = {}
    for i, c in enumerate(unique):
        if predicted[i] != c.label:
            stats[c.op]["dropped_label"] += 1
            continue
        if candidate_vectors is not None:
            vector = candidate_vectors[i]
            near_source = float(vector @ original_vectors[c.source]) >= duplicate_similarity
            same_label = kept_vectors.get(c.label)
            near_kept = bool(same_label) and float(np.max(np.stack(same_label) @ vector)) >= duplicate_similarity
            if near_source or near_kept:
                stats[c.op]["dropped_duplicate"] += 1
                continue
            kept_vectors.setdefault(c.label, []).append(vector)
        stats[c.op]["kept"] += 1
        kept.append(c)
    progress(100.0, f"kept {len(kept)} of {len(candidates)} augmented texts")
    return FilterResult(kept, stats)
