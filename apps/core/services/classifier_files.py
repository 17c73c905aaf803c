"""What a classifier version's folder holds, read back for pages, model cards and follow-up jobs.

Below services.classifiers (which writes these files) so that compression, robustness, shadow and the
model cards read them without importing the training service: imports run one way (issue 19).
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from ..models import ModelVersion
from .model_files import artifact_dir

log = logging.getLogger(__name__)

TEST_REPORT_FILE = "evaluation_test.json"


def json_safe(value: Any) -> Any:
    """JSON that PostgreSQL's jsonb accepts: no NaN or infinity (a diverged loss becomes null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _read_json(folder: Path, name: str) -> Any:
    path = folder / name
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        log.warning("%s is not valid JSON", path)
        return None


def top_confusions(report: dict, limit: int = 10) -> list[dict[str, Any]]:
    """The most frequent (true label, predicted label) mistakes of an evaluation report."""
    matrix = report.get("confusion_matrix") or {}
    labels, rows = matrix.get("labels", []), matrix.get("matrix", [])
    pairs = [
        {"true": labels[i], "predicted": labels[j], "count": count,
         "share": count / max(sum(row), 1)}
        for i, row in enumerate(rows) for j, count in enumerate(row) if i != j and count
    ]
    return sorted(pairs, key=lambda p: (-p["count"], p["true"], p["predicted"]))[:limit]


def _with_views(report: dict | None) -> dict | None:
    """A report plus what its page shows first: weakest classes, most common confusions."""
    if not report:
        return None
    return {**report, "top_confusions": top_confusions(report),
            "per_class_by_f1": sorted(report.get("per_class", []), key=lambda c: (c["f1"], c["label"]))}


def classifier_reports(*, version: ModelVersion) -> dict[str, Any] | None:
    """What a classifier version's folder says about it; None when it is not a classifier."""
    folder = artifact_dir(version)
    config = _read_json(folder, "classifier.json")
    if not config:
        return None
    return {
        "config": config,
        "curves": _read_json(folder, "curves.json") or [],
        "validation": _with_views(_read_json(folder, "evaluation.json")),
        "test": _with_views(_read_json(folder, TEST_REPORT_FILE)),
        "training_data": _read_json(folder, "training_data.json") or {},
    }
