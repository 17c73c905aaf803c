"""How good is a classifier: accuracy, macro-F1, per-class figures, confusion, calibration.

Calibration: the expected calibration error (ECE, 15 equal-width confidence bins) measures how
far confidence is from accuracy. Training fits one temperature T on the validation split's
logits (minimising negative log-likelihood; Guo et al. 2017) and stores it with the model, so
that `softmax(logits / T)` is what the predictor reports. Every result is plain JSON.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .data import DataError, LabelledTexts
from .numeric import softmax
from .progress import ProgressCallback, no_progress

if TYPE_CHECKING:  # pragma: no cover
    from .slices import SliceSettings


class ScoresTexts(Protocol):
    """What `evaluate` needs of a classifier (ml_core.serving.ClassifierPredictor is one)."""

    labels: list[str]
    temperature: float

    def predict_logits(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray: ...


ECE_BINS = 15


def expected_calibration_error(probs: np.ndarray, y_true: Sequence[int], n_bins: int = ECE_BINS) -> float:
    """Σ_bins (n_bin / n) · |accuracy(bin) − mean confidence(bin)| over top-1 confidences."""
    probs = np.asarray(probs)
    y = np.asarray(y_true)
    if len(y) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def reliability_bins(probs: np.ndarray, y_true: Sequence[int], n_bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per confidence bin: count, mean confidence, accuracy (for a reliability diagram)."""
    probs = np.asarray(probs)
    y = np.asarray(y_true)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        in_bin = bins == b
        n = int(in_bin.sum())
        out.append({
            "low": float(edges[b]), "high": float(edges[b + 1]), "n": n,
            "confidence": float(confidence[in_bin].mean()) if n else None,
            "accuracy": float(correct[in_bin].mean()) if n else None,
        })
    return out


def fit_temperature(logits: np.ndarray, y_true: Sequence[int], max_iter: int = 200) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) (one scalar, LBFGS)."""
    import torch

    logits_t = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(y_true), dtype=torch.long)
    if len(y) == 0:
        return 1.0
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits_t / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.exp().item())
    if not np.isfinite(temperature):
        return 1.0
    return float(min(max(temperature, 0.05), 20.0))


def negative_log_likelihood(probs: np.ndarray, y_true: Sequence[int]) -> float:
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true)
    if len(y) == 0:
        return 0.0
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)).mean())


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """accuracy, macro/weighted F1, per-class precision/recall/F1/support, confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, zero_division=0
    )
    present = support > 0  # classes absent from this data do not drag the macro average down
    matrix = confusion_matrix(y_true, y_pred, labels=ids) if len(y_true) else np.zeros((len(ids), len(ids)))
    weights = support / max(support.sum(), 1)
    return {
        "n": len(y_true),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * weights).sum()),
        "per_class": [
            {"label": label, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        ],
        "confusion_matrix": {"labels": list(labels), "matrix": matrix.astype(int).tolist()},
    }


def report_from_logits(logits: np.ndarray, y_true: Sequence[int], labels: Sequence[str],
                       temperature: float = 1.0) -> dict[str, Any]:
    """The full JSON report (classification figures + calibration) from raw logits."""
    raw = softmax(logits, 1.0)
    calibrated = softmax(logits, temperature)
    report = classification_report(y_true, calibrated.argmax(axis=1), labels)
    report.update({
        "ece": expected_calibration_error(calibrated, y_true),
        "ece_uncalibrated": expected_calibration_error(raw, y_true),
        "nll": negative_log_likelihood(calibrated, y_true),
        "temperature": float(temperature),
        "reliability": reliability_bins(calibrated, y_true),
    })
    return report


def label_ids(data: LabelledTexts, labels: Sequence[str]) -> np.ndarray:
    """Data labels as ids of `labels`; unknown labels are a DataError naming the first row."""
    index = {label: i for i, label in enumerate(labels)}
    ids = np.empty(len(data), dtype=np.int64)
    for row, label in enumerate(data.labels):
        if label not in index:
            raise DataError(
                f"{data.source or 'data'}: example {row + 1} has label {label!r}, which the model does "
                f"not know (it knows: {', '.join(labels)})"
            )
        ids[row] = index[label]
    return ids


def evaluate(predictor: ScoresTexts, data: LabelledTexts, *, progress: ProgressCallback = no_progress,
             slices: bool | SliceSettings = True) -> dict[str, Any]:
    """Score `predictor` on labelled data: a JSON-ready report (see report_from_logits), with the
    per-slice figures of ml_core.slices under "slices" (pass SliceSettings to tune them)."""
    y = label_ids(data, predictor.labels)
    logits = predictor.predict_logits(data.texts, progress=progress)
    report = report_from_logits(logits, y, predictor.labels, predictor.temperature)
    report["source"] = data.source
    if slices:
        from .slices import slice_report  # per source / language / length... (bias report)

        report["slices"] = slice_report(y, np.asarray(logits).argmax(axis=1), texts=data.texts, meta=data.meta,
                                        settings=None if slices is True else slices)
    return report


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The few figures worth a table row or a registry column."""
    return {key: report[key] for key in ("accuracy", "macro_f1", "ece", "n") if key in report}
