"""Bias and slice report: is the model much worse on some part of the data?

The evaluation data is cut into slices by every column the rows carry (source, language,
agreement level...) and by text length, and each slice gets its accuracy and macro-F1 with a
95% Wilson interval. A slice is flagged when its accuracy is more than `margin` below the
accuracy on the whole data and it has at least `min_size` rows (smaller slices are reported,
not judged: a handful of rows says little).

Columns are used when they look categorical: between 2 and `max_values` distinct values, and
not one value per row (ids, URLs). Name columns explicitly to use others.

Part of evaluation (`ml_core.evaluation.evaluate` adds it to every report); the trust pages read it
as `ml_core.trust.slices`, which re-exports it.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import UserError

__all__ = ["LENGTH_BUCKETS", "LENGTH_COLUMN", "SliceSettings", "length_bucket", "slice_report", "wilson_interval"]

LENGTH_COLUMN = "length"
# Words per text: short questions, sentences, short paragraphs, longer texts.
LENGTH_BUCKETS = ((1, 8, "1-8 words"), (9, 20, "9-20 words"), (21, 50, "21-50 words"), (51, None, "51+ words"))


@dataclass(frozen=True)
class SliceSettings:
    margin: float = 0.05  # accuracy points (0-1) below the whole that flag a slice
    min_size: int = 30
    max_values: int = 30
    columns: tuple[str, ...] | None = None  # None: every categorical column, plus length

    def validate(self) -> SliceSettings:
        if not 0.0 <= self.margin < 1.0:
            raise UserError(f"margin must be between 0 and 1, not {self.margin}")
        if self.min_size < 1 or self.max_values < 2:
            raise UserError("min_size must be at least 1 and max_values at least 2")
        return self


def length_bucket(text: str) -> str:
    words = len(text.split())
    for low, high, name in LENGTH_BUCKETS:
        if words >= low and (high is None or words <= high):
            return name
    return LENGTH_BUCKETS[0][2]  # an empty text


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    present = np.unique(y_true)  # classes absent from the slice do not count
    return float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def _categorical_columns(meta: Sequence[dict[str, Any]], max_values: int) -> list[str]:
    values: dict[str, set] = defaultdict(set)
    for row in meta:
        for key, value in row.items():
            if value is None or value == "" or isinstance(value, (list, dict)):
                continue
            if len(values[key]) <= max_values:
                values[key].add(str(value))
    n = len(meta)
    return sorted(k for k, v in values.items() if 2 <= len(v) <= max_values and len(v) < n)


def slice_report(y_true: Sequence[int], y_pred: Sequence[int], *, texts: Sequence[str] | None = None,
                 meta: Sequence[dict[str, Any]] | None = None, settings: SliceSettings | None = None
                 ) -> dict[str, Any]:
    """Per-slice accuracy / macro-F1 and the flagged slices, as plain JSON."""
    settings = (settings or SliceSettings()).validate()
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    n = len(y_true)
    if len(y_pred) != n or (texts is not None and len(texts) != n) or (meta is not None and len(meta) != n):
        raise ValueError("y_true, y_pred, texts and meta must have one entry per example")
    meta = list(meta) if meta is not None else [{} for _ in range(n)]
    overall = float((y_true == y_pred).mean()) if n else 0.0
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    wanted = list(settings.columns) if settings.columns is not None else (
        _categorical_columns(meta, settings.max_values) + ([LENGTH_COLUMN] if texts is not None else []))
    for column in wanted:
        if column == LENGTH_COLUMN and texts is not None:
            for i, text in enumerate(texts):
                groups[(column, length_bucket(text))].append(i)
            continue
        if not any(column in row for row in meta):
            raise UserError(f"the data has no column {column!r} to slice by")
        for i, row in enumerate(meta):
            value = row.get(column)
            groups[(column, "(empty)" if value is None or value == "" else str(value))].append(i)
    slices = []
    for (column, value), rows in sorted(groups.items()):
        idx = np.asarray(rows)
        correct = int((y_true[idx] == y_pred[idx]).sum())
        accuracy = correct / len(idx)
        low, high = wilson_interval(correct, len(idx))
        judged = len(idx) >= settings.min_size
        slices.append({
            "column": column, "value": value, "n": len(idx), "accuracy": accuracy,
            "accuracy_low": low, "accuracy_high": high, "macro_f1": _macro_f1(y_true[idx], y_pred[idx]),
            "gap": accuracy - overall, "judged": judged,
            "flagged": bool(judged and accuracy < overall - settings.margin),
        })
    return {
        "overall_accuracy": overall, "n": int(n), "settings": asdict(settings),
        "columns": wanted, "slices": slices,
        "flagged": [{k: s[k] for k in ("column", "value", "n", "accuracy", "gap")} for s in slices if s["flagged"]],
    }
