"""Metrics and calibration against hand-computed values and scikit-learn."""
import numpy as np
import pytest
from sklearn.metrics import f1_score

from ml_core.evaluation import (
    classification_report,
    expected_calibration_error,
    fit_temperature,
    report_from_logits,
    softmax,
)


def test_classification_report_matches_sklearn_and_counts_confusions():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 1, 1, 2, 2, 2, 2, 0]
    report = classification_report(y_true, y_pred, ["a", "b", "c"])
    assert report["n"] == 9 and report["accuracy"] == pytest.approx(6 / 9)
    assert report["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert report["confusion_matrix"] == {"labels": ["a", "b", "c"], "matrix": [[2, 1, 0], [0, 1, 1], [1, 0, 3]]}
    c = report["per_class"][2]
    assert c == {"label": "c", "precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}


def test_macro_f1_ignores_classes_absent_from_the_data():
    report = classification_report([0, 0, 1], [0, 0, 1], ["a", "b", "c"])
    assert report["macro_f1"] == 1.0 and report["per_class"][2]["support"] == 0


def test_ece_by_hand():
    # Two confident right answers (0.9) and two hesitant ones, one right (0.6): bins of 1/15.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    y = [0, 0, 0, 1]
    expected = 0.5 * abs(1.0 - 0.9) + 0.5 * abs(0.5 - 0.6)
    assert expected_calibration_error(probs, y) == pytest.approx(expected)
    assert expected_calibration_error(np.eye(3), [0, 1, 2]) == 0.0


def test_temperature_scaling_recovers_an_overconfident_models_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 5)) * 2.0
    y = np.array([rng.choice(5, p=p) for p in softmax(true_logits)])
    overconfident = true_logits * 3.0  # what a model that is too sure of itself outputs
    temperature = fit_temperature(overconfident, y)
    assert temperature == pytest.approx(3.0, rel=0.1)
    report = report_from_logits(overconfident, y, list("abcde"), temperature)
    assert report["ece"] < report["ece_uncalibrated"] / 3
    assert len(report["reliability"]) == 15 and sum(b["n"] for b in report["reliability"]) == 4000
    # Calibration never changes which label wins.
    assert report["accuracy"] == classification_report(y, overconfident.argmax(1), list("abcde"))["accuracy"]
