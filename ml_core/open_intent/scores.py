"""How much a message looks like one of the known intents: one score per method, higher = more known.

Embedding scores (what `OpenIntentDetector` fits; vectors are L2-normalised sentence embeddings):

- `knn`: cosine similarity to the k-th nearest known training text (Sun et al. 2022, "Out-of-
  distribution detection with deep nearest neighbors"; Zhou et al. 2022, KNN-contrastive
  learning for open intents). No assumption about the shape of a class.
- `centroid`: cosine similarity to the nearest class centroid.
- `adb`: ADB's adaptive decision boundaries (Zhang et al., AAAI 2021): a ball around each class
  centroid whose radius is what ADB's boundary loss converges to, the median distance of the
  class's training texts to its centroid (the loss's gradient for a radius is the count of texts
  inside minus the count outside). The score is the distance in units of that radius (negated),
  so one threshold serves all classes and calibration decides how far out the boundary lies.
- `mahalanobis`: distance to the nearest class mean under one shared (tied) covariance
  (Lee et al. 2018; Podolskiy et al. 2021 for intents), negated.

Logit scores, for classifiers that only give logits: maximum softmax probability (MSP, Hendrycks
& Gimpel 2017), maximum logit (Hendrycks et al. 2022) and the negative energy (Liu et al. 2020).
"""
from __future__ import annotations

import numpy as np

EMBEDDING_METHODS = ("knn", "centroid", "adb", "mahalanobis")
LOGIT_METHODS = ("msp", "maxlogit", "energy")
# Row blocks for similarity matrices: bounded memory whatever the number of messages.
_BLOCK = 1024


def knn_scores(queries: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarity to the k-th nearest row of `index`, positions of the k nearest rows, best first)."""
    k = min(k, len(index))
    scores = np.empty(len(queries), dtype=np.float32)
    nearest = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), _BLOCK):
        sims = queries[start : start + _BLOCK] @ index.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        nearest[start : start + _BLOCK] = np.take_along_axis(top, order, axis=1)
        scores[start : start + _BLOCK] = np.take_along_axis(top_sims, order, axis=1)[:, k - 1]
    return scores, nearest


def max_softmax_score(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    return (1.0 / np.exp(z).sum(axis=1)).astype(np.float32)


def max_logit_score(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits, dtype=np.float32).max(axis=1)


def energy_score(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """−energy = T · logsumexp(logits / T)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    top = z.max(axis=1)
    return (temperature * (top + np.log(np.exp(z - top[:, None]).sum(axis=1)))).astype(np.float32)


LOGIT_SCORES = {"msp": max_softmax_score, "maxlogit": max_logit_score, "energy": energy_score}
