"""Small numeric helpers shared across ml_core (numpy only; imports nothing of ml_core, so any
module may use them without creating an import loop)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["l2_normalise", "softmax", "top_k"]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of `logits / temperature`, computed in float64, returned as float32."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, C-contiguous; a single vector becomes one row)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12))


def top_k(probabilities: np.ndarray, labels: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The k likeliest (label, probability) of one row, likeliest first (ties keep label order)."""
    order = np.argsort(-np.asarray(probabilities), kind="stable")[: max(1, min(int(k), len(labels)))]
    return [(labels[i], float(probabilities[i])) for i in order]
