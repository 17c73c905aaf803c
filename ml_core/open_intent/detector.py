"""`OpenIntentDetector`: is a message one of the known intents, or open (none of them)?

Fitted on the sentence embeddings of the known intents' training texts only (no example of an
unknown intent is needed), it scores each message (see scores.py; higher = more like a known
intent) and refuses those below a threshold. The threshold comes from a calibration curve built
on held-out known texts, so `target_false_rejection=0.05` refuses about 5 % of known questions:

- with `calibration_vectors` (texts the encoder and the detector never trained on, e.g. the
  validation split of a fine-tuned model), their scores make the curve;
- without them, the training texts are cross-fitted: each fold is scored by a detector fitted on
  the other folds. That is right only when the encoder did not learn from these texts (the `head`
  method's frozen shared encoder); a fine-tuned encoder pulls its own training texts together, so
  their scores would say that too few known questions get refused.

Artifact files (beside a model version's files): `open_intent.json` (format, config, labels,
calibration curve) and `open_intent.npz` (the fitted vectors, no pickles).
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..numeric import l2_normalise
from ..options import options_from_dict
from .calibration import CalibrationCurve, CalibrationError, check_rate
from .scores import EMBEDDING_METHODS, LOGIT_SCORES, knn_scores

DETECTOR_FORMAT = "ml_core.open_intent_detector"
DETECTOR_FORMAT_VERSION = 1
CONFIG_FILE = "open_intent.json"
STATE_FILE = "open_intent.npz"


class OpenIntentError(UserError):
    """A detector cannot be fitted, used or loaded with these inputs."""


@dataclass
class OpenIntentConfig:
    # knn + maxlogit: the measured best on Banking77 (bench/open_intent.py; README has the comparison).
    method: str = "knn"
    # knn: similarity to the k-th nearest training text (1: the nearest).
    k: int = 1
    # Add the classifier's logit score (msp, maxlogit or energy; None: the embedding score alone).
    # Both scores are standardised on the calibration texts, then summed (the logit one weighted);
    # it needs the classifier's logits for the calibration texts and for every message.
    logit_score: str | None = "maxlogit"
    logit_weight: float = 1.0
    # Share of known questions the detector may refuse; the threshold is read off the curve.
    target_false_rejection: float = 0.10
    # Cross-fitting folds when no held-out calibration texts are given.
    calibration_folds: int = 5
    # mahalanobis: weight of the identity (scaled to the mean variance) in the shared covariance.
    covariance_shrinkage: float = 0.1
    seed: int = 0

    def validate(self) -> OpenIntentConfig:
        if self.method not in EMBEDDING_METHODS:
            raise OpenIntentError(f"method must be one of {', '.join(EMBEDDING_METHODS)}, not {self.method!r}")
        if self.logit_score is not None and self.logit_score not in LOGIT_SCORES:
            raise OpenIntentError(f"logit_score must be one of {', '.join(LOGIT_SCORES)} or None, "
                                  f"not {self.logit_score!r}")
        if not self.logit_weight >= 0:
            raise OpenIntentError(f"logit_weight must be >= 0, not {self.logit_weight!r}")
        if not isinstance(self.k, int) or self.k < 1:
            raise OpenIntentError(f"k must be a whole number of at least 1, not {self.k!r}")
        try:
            self.target_false_rejection = check_rate(self.target_false_rejection)  # a plain float: JSON-ready
        except CalibrationError as exc:
            raise OpenIntentError(str(exc)) from None
        if not isinstance(self.calibration_folds, int) or self.calibration_folds < 2:
            raise OpenIntentError(f"calibration_folds must be at least 2, not {self.calibration_folds!r}")
        if not 0.0 <= self.covariance_shrinkage <= 1.0:
            raise OpenIntentError(f"covariance_shrinkage must be in [0, 1], not {self.covariance_shrinkage!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpenIntentConfig:
        return options_from_dict(cls, data, error=OpenIntentError, unknown="unknown open-intent option(s)",
                                 validate=True)

    def replace(self, **changes: Any) -> OpenIntentConfig:
        return dataclasses.replace(self, **changes).validate()

    def describe_score(self) -> str:
        embedding = self._describe_embedding_score()
        if self.logit_score is None:
            return embedding
        return (f"standardised {embedding} plus {self.logit_weight:g} x the standardised "
                f"{self.logit_score} of the classifier's logits")

    def _describe_embedding_score(self) -> str:
        return {
            "knn": f"cosine similarity to the {_ordinal(self.k)} nearest known training text",
            "centroid": "cosine similarity to the nearest intent centroid",
            "adb": "minus the distance to the nearest intent centroid in units of that intent's ADB radius",
            "mahalanobis": "minus the squared Mahalanobis distance to the nearest intent mean (tied covariance)",
        }[self.method]


@dataclass(frozen=True)
class OpenIntentDecision:
    """One message: `label` is the known intent, or None when the message is open."""

    label: str | None
    is_open: bool
    score: float
    threshold: float
    nearest_label: str  # the detector's own nearest intent, even when open

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class OpenIntentDetector:
    """Fitted state of one method plus its calibration curve; see the module docstring."""

    def __init__(self, config: OpenIntentConfig, labels: Sequence[str], state: dict[str, np.ndarray],
                 curve: CalibrationCurve) -> None:
        self.config = config.validate()
        self.labels = list(labels)
        self.state = state
        self.curve = curve

    # --- fitting ------------------------------------------------------------------------------
    # --- fitting ------------------------------------------------------------------------------
    @classmethod
    def fit(cls, vectors: np.ndarray, labels: Sequence[str], *, config: OpenIntentConfig | None = None,
            calibration_vectors: np.ndarray | None = None,
            calibration_logits: np.ndarray | None = None) -> OpenIntentDetector:
        """Fit on the known intents' training vectors; calibrate on held-out ones (or by cross-fitting).

        With `config.logit_score` set, `calibration_logits` (the classifier's logits for the
        calibration texts, which it did not train on) are required.
        """
        config = (config or OpenIntentConfig()).validate()
        vectors = _check_vectors(vectors, "training vectors")
        labels = [str(label) for label in labels]
        if len(labels) != len(vectors):
            raise OpenIntentError(f"{len(vectors)} training vectors but {len(labels)} labels")
        label_names = sorted(set(labels))
        ids = {label: i for i, label in enumerate(label_names)}
        y = np.array([ids[label] for label in labels], dtype=np.int64)
        state = _fit_state(config, vectors, y, len(label_names))
        if calibration_vectors is not None:
            calibration = _check_vectors(calibration_vectors, "calibration vectors")
            if calibration.shape[1] != vectors.shape[1]:
                raise OpenIntentError(f"calibration vectors have dimension {calibration.shape[1]}, "
                                      f"training vectors {vectors.shape[1]}")
            held_out = _score(config, state, calibration)[0]
        elif config.logit_score is not None:
            raise OpenIntentError(
                f"logit_score {config.logit_score!r} needs held-out calibration texts with the classifier's "
                "logits (calibration_vectors and calibration_logits); set logit_score=None to calibrate "
                "on the training texts alone"
            )
        else:
            held_out = _cross_fitted_scores(config, vectors, y, len(label_names))
        if config.logit_score is not None:
            logit_scores = _logit_scores(config, calibration_logits, len(held_out), "calibration")
            state["standardise"] = np.array([*_centre_and_scale(held_out), *_centre_and_scale(logit_scores)],
                                            dtype=np.float64)
            held_out = _fuse(config, state, held_out, logit_scores)
        curve = CalibrationCurve.from_scores(held_out, score=config.describe_score())
        return cls(config, label_names, state, curve)

    # --- use ----------------------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        return int(self.state["dimension"][0])

    @property
    def threshold(self) -> float:
        return self.curve.threshold_for(self.config.target_false_rejection)

    def threshold_for(self, target_false_rejection: float | None = None) -> float:
        if target_false_rejection is None:
            return self.threshold
        try:
            return self.curve.threshold_for(target_false_rejection)
        except CalibrationError as exc:
            raise OpenIntentError(str(exc)) from None

    def scores(self, vectors: np.ndarray, logits: np.ndarray | None = None) -> np.ndarray:
        """Higher: more like a known intent (comparable with `threshold`)."""
        return self._scores(vectors, logits)[0]

    def nearest_labels(self, vectors: np.ndarray) -> list[str]:
        return [self.labels[i] for i in _score(self.config, self.state, self._check_queries(vectors))[1]]

    def is_open(self, vectors: np.ndarray, logits: np.ndarray | None = None, *,
                target_false_rejection: float | None = None) -> np.ndarray:
        return self.scores(vectors, logits) < self.threshold_for(target_false_rejection)

    def decide(self, vectors: np.ndarray, predicted_labels: Sequence[str] | None = None, *,
               logits: np.ndarray | None = None,
               target_false_rejection: float | None = None) -> list[OpenIntentDecision]:
        """Known intent or open, per message. `predicted_labels` (a classifier's top intent) are kept
        for the accepted messages; without them the detector's nearest intent is the answer."""
        threshold = self.threshold_for(target_false_rejection)
        scores, nearest = self._scores(vectors, logits)
        if predicted_labels is not None and len(predicted_labels) != len(scores):
            raise OpenIntentError(f"{len(scores)} vectors but {len(predicted_labels)} predicted labels")
        decisions = []
        for i, (score, near) in enumerate(zip(scores.tolist(), nearest.tolist())):
            is_open = score < threshold
            known = predicted_labels[i] if predicted_labels is not None else self.labels[near]
            decisions.append(OpenIntentDecision(label=None if is_open else known, is_open=is_open,
                                                score=float(score), threshold=threshold,
                                                nearest_label=self.labels[near]))
        return decisions

    def _scores(self, vectors: np.ndarray, logits: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        scores, nearest = _score(self.config, self.state, self._check_queries(vectors))
        if self.config.logit_score is not None:
            scores = _fuse(self.config, self.state, scores, _logit_scores(self.config, logits, len(scores), "message"))
        elif logits is not None:
            raise OpenIntentError("this detector was fitted without logits (logit_score None); pass none")
        return scores, nearest

    def _check_queries(self, vectors: np.ndarray) -> np.ndarray:
        vectors = _check_vectors(vectors, "vectors", allow_empty=True)
        if len(vectors) and vectors.shape[1] != self.dimension:
            raise OpenIntentError(f"vectors have dimension {vectors.shape[1]}, the detector {self.dimension}")
        return vectors

    # --- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything but the fitted arrays (those go to open_intent.npz)."""
        return {"format": DETECTOR_FORMAT, "format_version": DETECTOR_FORMAT_VERSION,
                "config": self.config.to_dict(), "labels": self.labels, "dimension": self.dimension,
                "threshold": self.threshold, "calibration": self.curve.to_dict()}

    def save(self, folder: Path | str) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / STATE_FILE, **self.state)
        (folder / CONFIG_FILE).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def load(cls, folder: Path | str) -> OpenIntentDetector:
        folder = Path(folder)
        if not (folder / CONFIG_FILE).is_file() or not (folder / STATE_FILE).is_file():
            raise OpenIntentError(f"{folder} has no open-intent detector ({CONFIG_FILE} and {STATE_FILE})")
        try:
            data = json.loads((folder / CONFIG_FILE).read_text())
        except ValueError as exc:
            raise OpenIntentError(f"{folder / CONFIG_FILE} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != DETECTOR_FORMAT:
            raise OpenIntentError(f"{folder / CONFIG_FILE} is not an open-intent detector")
        if int(data.get("format_version", 0)) > DETECTOR_FORMAT_VERSION:
            raise OpenIntentError(f"{folder} holds a detector from a newer ml_core; upgrade to load it")
        try:
            with np.load(folder / STATE_FILE, allow_pickle=False) as arrays:
                state = {name: arrays[name] for name in arrays.files}
            return cls(OpenIntentConfig.from_dict(data["config"]), data["labels"], state,
                       CalibrationCurve.from_dict(data["calibration"]))
        except (KeyError, TypeError, ValueError, CalibrationError) as exc:
            raise OpenIntentError(f"{folder}: open-intent detector files are damaged: {exc}") from None


def is_detector_folder(folder: Path | str) -> bool:
    return (Path(folder) / CONFIG_FILE).is_file()


# --- the methods ------------------------------------------------------------------------------
def _fit_state(config: OpenIntentConfig, vectors: np.ndarray, y: np.ndarray, n_labels: int) -> dict[str, np.ndarray]:
    state = {"dimension": np.array([vectors.shape[1]], dtype=np.int64)}
    if config.method == "knn":
        return {**state, "vectors": vectors, "label_ids": y}
    present = np.unique(y)
    means = np.zeros((n_labels, vectors.shape[1]), dtype=np.float32)
    for k in present:
        means[k] = vectors[y == k].mean(axis=0)
    # A label absent from this fold's training part can never be the nearest.
    state["present"] = np.isin(np.arange(n_labels), present)
    if config.method == "centroid":
        return {**state, "centroids": l2_normalise(means)}
    if config.method == "adb":
        distances = np.linalg.norm(vectors - means[y], axis=1)
        radii = np.ones(n_labels, dtype=np.float32)
        for k in present:
            radii[k] = max(float(np.median(distances[y == k])), 1e-6)
        return {**state, "means": means, "radii": radii}
    # mahalanobis: one covariance shared by all intents, shrunk toward a scaled identity so that it
    # stays invertible with fewer texts than dimensions.
    centred = vectors - means[y]
    covariance = centred.T @ centred / max(len(vectors) - 1, 1)
    scale = float(np.trace(covariance)) / covariance.shape[0] or 1.0
    shrunk = (1.0 - config.covariance_shrinkage) * covariance + config.covariance_shrinkage * scale * np.eye(
        covariance.shape[0])
    return {**state, "means": means, "precision": np.linalg.pinv(shrunk).astype(np.float32)}


def _score(config: OpenIntentConfig, state: dict[str, np.ndarray], queries: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """(scores, nearest label ids) of L2-normalised query vectors."""
    if len(queries) == 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    if config.method == "knn":
        scores, nearest = knn_scores(queries, state["vectors"], config.k)
        neighbour_labels = state["label_ids"][nearest]
        return scores, _majority(neighbour_labels)
    absent = ~state["present"].astype(bool)
    if config.method == "centroid":
        sims = queries @ state["centroids"].T
        sims[:, absent] = -np.inf
        nearest = sims.argmax(axis=1)
        return sims[np.arange(len(queries)), nearest].astype(np.float32), nearest
    means = state["means"]
    if config.method == "adb":
        distances = np.sqrt(np.maximum(_squared_distances(queries, means), 0.0))
        distances[:, absent] = np.inf
        nearest = distances.argmin(axis=1)
        rows = np.arange(len(queries))
        return (-distances[rows, nearest] / state["radii"][nearest]).astype(np.float32), nearest
    precision = state["precision"]
    projected_q, projected_m = queries @ precision, means @ precision
    squared = (np.einsum("ij,ij->i", projected_q, queries)[:, None] - 2 * projected_q @ means.T
               + np.einsum("ij,ij->i", projected_m, means)[None, :])
    squared[:, absent] = np.inf
    nearest = squared.argmin(axis=1)
    return (-squared[np.arange(len(queries)), nearest]).astype(np.float32), nearest


def _majority(neighbour_labels: np.ndarray) -> np.ndarray:
    """The most frequent label among each row's neighbours; a tie goes to the nearer neighbour's."""
    if neighbour_labels.shape[1] == 1:
        return neighbour_labels[:, 0]
    winners = np.empty(len(neighbour_labels), dtype=np.int64)
    for i, row in enumerate(neighbour_labels):
        counts = np.bincount(row)
        winners[i] = next(label for label in row if counts[label] == counts.max())
    return winners


def _squared_distances(queries: np.ndarray, means: np.ndarray) -> np.ndarray:
    return (np.einsum("ij,ij->i", queries, queries)[:, None] - 2 * queries @ means.T
            + np.einsum("ij,ij->i", means, means)[None, :])


def _cross_fitted_scores(config: OpenIntentConfig, vectors: np.ndarray, y: np.ndarray, n_labels: int) -> np.ndarray:
    """Each text scored by a detector fitted on the other folds (folds stratified by intent)."""
    folds = min(config.calibration_folds, len(vectors))
    if folds < 2:
        raise OpenIntentError("need at least 2 training texts to calibrate without held-out texts")
    rng = np.random.default_rng(config.seed)
    fold_of = np.empty(len(vectors), dtype=np.int64)
    offset = 0
    for k in range(n_labels):
        members = np.flatnonzero(y == k)
        # Consecutive fold numbers across intents, so small intents do not all land in fold 0.
        fold_of[rng.permutation(members)] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    scores = np.empty(len(vectors), dtype=np.float32)
    for fold in range(folds):
        held_out = fold_of == fold
        if not held_out.any() or held_out.all():
            continue
        state = _fit_state(config, vectors[~held_out], y[~held_out], n_labels)
        scores[held_out] = _score(config, state, vectors[held_out])[0]
    return scores


def _logit_scores(config: OpenIntentConfig, logits: Any, n: int, what: str) -> np.ndarray:
    if logits is None:
        raise OpenIntentError(f"this detector adds the classifier's {config.logit_score}: pass the {what} logits")
    array = np.asarray(logits, dtype=np.float64)
    if array.ndim != 2 or len(array) != n or array.shape[1] < 1:
        raise OpenIntentError(f"{what} logits must be a 2-D array with one row per text ({n}), got shape "
                              f"{array.shape}")
    if not np.all(np.isfinite(array)):
        raise OpenIntentError(f"{what} logits contain NaN or infinite values")
    return LOGIT_SCORES[config.logit_score](array).astype(np.float64)


def _centre_and_scale(scores: np.ndarray) -> tuple[float, float]:
    """Median and interquartile range: robust to the few odd held-out texts."""
    low, centre, high = np.quantile(scores, [0.25, 0.5, 0.75])
    return float(centre), float(high - low) if high > low else float(np.std(scores)) or 1.0


def _fuse(config: OpenIntentConfig, state: dict[str, np.ndarray], embedding_scores: np.ndarray,
          logit_scores: np.ndarray) -> np.ndarray:
    """Both scores on one scale (standardised on the calibration texts), the logit one weighted."""
    e_centre, e_scale, l_centre, l_scale = state["standardise"].tolist()
    fused = (np.asarray(embedding_scores, dtype=np.float64) - e_centre) / e_scale
    fused += config.logit_weight * (logit_scores - l_centre) / l_scale
    return fused.astype(np.float32)


def _check_vectors(vectors: Any, name: str, *, allow_empty: bool = False) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise OpenIntentError(f"{name} must be a 2-D array (texts x dimensions), got shape {array.shape}")
    if not allow_empty and len(array) == 0:
        raise OpenIntentError(f"{name} are empty")
    if not np.all(np.isfinite(array)):
        raise OpenIntentError(f"{name} contain NaN or infinite values")
    return l2_normalise(array) if len(array) else array


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")
