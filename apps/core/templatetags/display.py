"""How values read on every page (`{% load display %}`): labels in words, numbers for people.

Machine values (keys, dicts, lists, None, True, long floats) never reach visible text through
these filters: `humanize_label` turns `track_order` into "Track order", `sig3` keeps three
significant digits, `human_value` renders whatever a job or model stored in the JSON fields.
"""
from __future__ import annotations

import math
import re
from numbers import Number

from django import template
from django.utils.formats import number_format

register = template.Library()

# Names whose words are not their letters: metric names, acronyms, units.
KNOWN_LABELS = {
    "map": "MAP", "ndcg": "nDCG", "mrr": "MRR", "auc": "AUC", "f1": "F1", "macro_f1": "Macro F1",
    "onnx": "ONNX", "int8": "int8", "fp32": "fp32", "cpu": "CPU", "gpu": "GPU", "cuda": "CUDA", "url": "URL",
    "api": "API", "id": "ID", "ids": "IDs", "kb": "knowledge base", "sha256": "SHA-256", "lora": "LoRA",
    "bpr": "BPR", "als": "ALS", "knn": "kNN", "ece": "ECE", "p95": "p95", "p50": "p50", "ms": "ms",
    "s": "s", "mb": "MB", "kib": "KiB", "mib": "MiB", "faq": "FAQ", "pii": "PII", "csv": "CSV",
}
# Suffixes that say a unit: shown after the words ("train_s" -> "Train (s)").
UNIT_SUFFIXES = {"s": "s", "ms": "ms", "mb": "MB", "bytes": "bytes", "pct": "%"}
_WORD_SPLIT = re.compile(r"[_\-\s.]+")
_IDENTIFIER = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _word(word: str) -> str:
    lower = word.lower()
    if lower in KNOWN_LABELS:
        return KNOWN_LABELS[lower]
    if "@" in word:  # ndcg@10, recall@10
        head, _, tail = word.partition("@")
        return f"{_word(head)}@{tail}"
    return lower


@register.filter
def humanize_label(value) -> str:
    """`track_order` -> "Track order", `ndcg@10` -> "nDCG@10", `train_s` -> "Train (s)"."""
    if value is None:
        return ""
    text = str(value).strip()
    if not text:
        return ""
    if " " in text and "_" not in text:  # already words
        return text[0].upper() + text[1:]
    parts = [p for p in _WORD_SPLIT.split(text) if p]
    unit = ""
    if len(parts) > 1 and parts[-1].lower() in UNIT_SUFFIXES:
        unit = UNIT_SUFFIXES[parts.pop().lower()]
    words = " ".join(_word(p) for p in parts)
    if words and words[0].islower() and not words.startswith(("nDCG", "kNN", "int8", "fp32", "p95", "p50")):
        words = words[0].upper() + words[1:]
    return f"{words} ({unit})" if unit else words


def _sig(number: float, digits: int) -> str:
    """`digits` significant digits, thousands grouped, no trailing zeros, no negative zero."""
    if number == 0 or not math.isfinite(number):
        return "0" if number == 0 else str(number)
    magnitude = math.floor(math.log10(abs(number)))
    if magnitude < -2:  # 0.00123 -> 1.23 × 10⁻³: no run of zeros to count (nor 5+ decimals)
        mantissa = _sig(number / 10 ** magnitude, digits)
        return f"{mantissa} × 10{str(magnitude).translate(_SUPERSCRIPT)}"
    decimals = max(0, digits - 1 - magnitude)
    rounded = round(number, decimals)
    if rounded == 0:
        return "0"
    text = number_format(rounded, decimal_pos=decimals, use_l10n=True, force_grouping=abs(rounded) >= 10_000)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


@register.filter
def sig3(value, digits: int = 3) -> str:
    """A number with `digits` (3) significant digits: 0.8191234 -> 0.819, 12345.6 -> 12,346."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() and abs(number) >= 10 ** (int(digits) - 1):
        return number_format(int(number), use_l10n=True, force_grouping=abs(number) >= 10_000)
    return _sig(number, int(digits))


@register.filter
def as_percent(value, digits: int = 1) -> str:
    """A share (0..1) as a percentage with `digits` decimals at most: 0.8191 -> 81.9%."""
    if value is None or value == "":
        return "–"
    try:
        number = 100 * float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:.{int(digits)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{'0' if text in ('-0', '') else text}%"


@register.filter
def signed_score(value, digits: int = 2) -> str:
    """A score in -1..1 with its sign; a value that rounds to zero reads 0.00, never -0.00."""
    if value is None:
        return "–"
    number = round(float(value), int(digits))
    if number == 0:
        return f"{0:.{int(digits)}f}"
    return f"{number:+.{int(digits)}f}"


@register.filter
def human_value(value) -> str:
    """Anything a JSON field holds, as words: numbers by `sig3`, True -> yes, None -> –,
    lists joined with commas, mappings as "Label: value" pairs."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Number):
        return sig3(value)
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if isinstance(item, dict):  # {"config": {"method": "head"}} -> Config (method: head)
                inner = ", ".join(f"{humanize_label(k).lower()}: {human_value(v)}" for k, v in item.items())
                parts.append(f"{humanize_label(key)} ({inner or '–'})")
            else:
                parts.append(f"{humanize_label(key)}: {human_value(item)}")
        return "; ".join(parts) or "–"
    if isinstance(value, (list, tuple, set)):
        return ", ".join(human_value(v) for v in value) or "–"
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value):  # "if_better" -> "if better"
        return value.replace("_", " ")
    return str(value)


@register.filter
def human_duration(seconds) -> str:
    """Seconds for people: 0.42 -> 420 ms, 75 -> 1 min 15 s, 5400 -> 1 h 30 min."""
    if seconds is None or seconds == "":
        return "–"
    seconds = float(seconds)
    if seconds < 1:
        return f"{sig3(seconds * 1000)} ms"
    if seconds < 60:
        return f"{sig3(seconds)} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def confusion_in_words(confusion) -> dict:
    """A confusion matrix ({"labels", "matrix"}) with its labels in words, for the heat map's axes:
    `track_order` -> "Track order"; the counts as they are."""
    confusion = confusion or {}
    return {"labels": [humanize_label(label) for label in confusion.get("labels") or []],
            "matrix": confusion.get("matrix") or []}


@register.filter
def confusion_rows(confusion) -> list[dict]:
    """The rows of a confusion matrix for a table: [{"label": true label in words, "counts":
    [count per predicted label]}]."""
    confusion = confusion or {}
    return [{"label": humanize_label(label), "counts": list(counts)}
            for label, counts in zip(confusion.get("labels") or [], confusion.get("matrix") or [])]


_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*")
_RATE_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


@register.filter
def rate_in_words(value) -> str:
    """A rate limit as people say it: "20/m" -> "20 a minute", "100/5m" -> "100 per 5 minutes";
    anything else as it is."""
    match = _RATE.fullmatch(str(value or ""))
    if not match:
        return str(value or "")
    count, period, unit = int(match.group(1)), int(match.group(2) or 1), _RATE_UNITS[match.group(3)]
    number = number_format(count, use_l10n=True, force_grouping=count >= 10_000)
    return f"{number} a {unit}" if period == 1 else f"{number} per {period} {unit}s"
