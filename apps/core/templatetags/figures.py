"""The figures of model versions and jobs, for people (`{% load figures %}`).

A job or a model version stores its figures as machine values (`macro_f1`, `0.8974358974358974`,
`faithfulness_passed: 1.0`). These tags show them in words: a label per figure, shares as
percentages, durations with units, yes/no, and the headline figures of a version with the
number of examples they were measured on. The raw values stay available to admins in a folded
"machine values" area (`machine_json`).
"""
from __future__ import annotations

import json
import re
from numbers import Number
from typing import Any

from django import template

from .display import as_percent, human_duration, human_value, humanize_label, sig3

register = template.Library()

# Labels whose words are not the key's: what a person calls the figure.
FIGURE_LABELS = {
    "method": "Training method", "device": "Device", "accuracy": "Accuracy", "macro_f1": "Macro-F1",
    "ece": "Calibration error (ECE)", "ece_uncalibrated": "Calibration error before calibration",
    "temperature": "Calibration temperature", "nll": "Log loss", "n_train": "Training texts",
    "n_valid": "Validation texts", "n_labels": "Labels", "best_epoch": "Best epoch", "epochs_run": "Epochs run",
    "head_seconds": "Head training time", "train_seconds": "Training time", "seconds_per_epoch": "Time per epoch",
    "cpu_seconds_per_epoch": "CPU time per epoch", "world_size": "Training processes",
    "peak_rss_mb": "Peak memory", "peak_cuda_mb": "Peak GPU memory",
    "test_accuracy": "Test accuracy", "test_macro_f1": "Test macro-F1", "test_ece": "Test calibration error (ECE)",
    "test_n": "Test texts",
    "faithfulness_drop_top": "Probability drop when the credited words are deleted",
    "faithfulness_drop_random": "Probability drop when random words are deleted",
    "faithfulness_passed": "Explanations pass the deletion test", "faithfulness_p": "Deletion test p-value",
    "open_intent_threshold": "Open-intent threshold", "open_intent_calibration_n": "Open-intent calibration questions",
    "train_s": "Training time", "coverage": "Catalogue coverage", "resumed_from_epoch": "Resumed from epoch",
    "compared_with": "Compared with", "activated": "Activated", "trials": "Trials", "complete": "Trials completed",
    "best_trial": "Best trial", "seconds": "Time",
}
BOOLEAN_FIGURES = {"faithfulness_passed"}
# Shares (0..1) shown as percentages.
_PERCENT = re.compile(r"(^|_)(accuracy|f1|ece|coverage|share|rate)(@\d+)?$|^(test_)?ece_uncalibrated$")
_DURATION = re.compile(r"(^|_)(seconds|s)$|^seconds_per_")
_PER_SECOND = "_per_s"
_MEGABYTES = re.compile(r"_mb$")
# A machine name standing as a word (not inside a path, an address or a file name).
_IDENTIFIER = re.compile(r"(?<![\w./:@#-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/@-]|\.\w)")


def figure_label(key: str) -> str:
    """`macro_f1` -> "Macro-F1", `texts_per_s` -> "Texts per second", else humanize_label."""
    key = str(key)
    if key in FIGURE_LABELS:
        return FIGURE_LABELS[key]
    if key.endswith(_PER_SECOND):
        return f"{humanize_label(key[:-len(_PER_SECOND)])} per second"
    if _DURATION.search(key) and key.endswith("_s"):  # load_s -> "Load time" (the value says "1.23 s")
        return f"{humanize_label(key[:-2])} time"
    if key.startswith("best_") and key[5:] in FIGURE_LABELS:  # best_macro_f1 of a tuning job
        return f"Best {FIGURE_LABELS[key[5:]].lower()}"
    return humanize_label(key)


def figure_value(key: str, value: Any) -> str:
    """A figure's value in words, by what its key says it is."""
    key = str(key)
    if isinstance(value, bool) or (key in BOOLEAN_FIGURES and isinstance(value, Number)):
        return "yes" if value else "no"
    if isinstance(value, Number):
        if _PERCENT.search(key) and 0 <= value <= 1:
            return as_percent(value)
        if _DURATION.search(key) and not key.endswith(_PER_SECOND):
            return human_duration(value)
        if _MEGABYTES.search(key):
            return f"{sig3(value)} MB"
    if isinstance(value, str):
        return words_for_identifiers(human_value(value))
    return human_value(value)


@register.filter
def figure_rows(figures: dict | None, skip: str = "") -> list[dict[str, str]]:
    """[{"key", "label", "value"}] for the flat figures of a dict, in its order; nested values
    (reports with their own section, curves) and the keys in `skip` (comma-separated) left out."""
    skipped = {k.strip() for k in skip.split(",") if k.strip()}
    return [{"key": key, "label": figure_label(key), "value": figure_value(key, value)}
            for key, value in (figures or {}).items()
            if key not in skipped and not isinstance(value, (dict, list, tuple))]


@register.filter
def words_for_identifiers(text: Any) -> str:
    """Machine names inside a sentence in words: "13 texts (cancel_order 1, ...)" ->
    "13 texts (cancel order 1, ...)". Setting names (upper case) stay as they are."""
    if text is None:
        return ""
    return _IDENTIFIER.sub(lambda m: m.group(0).replace("_", " "), str(text))


@register.filter
def machine_json(value: Any, skip: str = "") -> str:
    """The raw value as indented JSON, for the admins' machine-values area; keys in `skip`
    (comma-separated: long series such as curves) are left out of a dict."""
    skipped = {k.strip() for k in skip.split(",") if k.strip()}
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in skipped}
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


@register.simple_tag
def headline_figures(metrics: dict | None) -> dict[str, Any] | None:
    """A version's headline figures and what they were measured on:
    {"figures": [{"label", "value"}], "n": 90, "on": "test texts"}; None when it has none.

    A classifier: accuracy and macro-F1 on its test set when it has one, else on the validation
    split. A recommender: nDCG@10 and MAP of the served (hybrid) model on its test users."""
    metrics = metrics or {}
    if isinstance(metrics.get("test_accuracy"), Number):
        figures = [("Accuracy", as_percent(metrics["test_accuracy"])),
                   ("Macro-F1", as_percent(metrics.get("test_macro_f1")))]
        n, on = metrics.get("test_n"), "test texts"
    elif isinstance(metrics.get("accuracy"), Number):
        figures = [("Accuracy", as_percent(metrics["accuracy"])), ("Macro-F1", as_percent(metrics.get("macro_f1")))]
        n, on = metrics.get("n_valid"), "validation texts"
    elif any(isinstance(metrics.get(key), Number) for key in ("ndcg@10", "map")):
        figures = [(figure_label(key), sig3(metrics[key])) for key in ("ndcg@10", "map", "recall@10")
                   if isinstance(metrics.get(key), Number)]
        models = metrics.get("models") if isinstance(metrics.get("models"), dict) else {}
        served = models.get("hybrid") or next(iter(models.values()), None)  # the blend is what serves
        n, on = (served.get("users") if isinstance(served, dict) else None), "test users"
    else:
        return None
    return {"figures": [{"label": label, "value": value} for label, value in figures], "n": n, "on": on}
