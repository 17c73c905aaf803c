"""The shared display filters (apps/core/templatetags/display.py): labels in words, numbers for
people, no machine value (dict, list, None, True, 16-digit float) left in what they return."""
import pytest
from django.template import Context, Template

from apps.core.templatetags.display import (
    as_percent,
    human_duration,
    human_value,
    humanize_label,
    sig3,
    signed_score,
)


@pytest.mark.parametrize("raw, words", [
    ("track_order", "Track order"), ("contact_human_agent", "Contact human agent"), ("ndcg@10", "nDCG@10"),
    ("recall@10", "Recall@10"), ("map", "MAP"), ("train_s", "Train (s)"), ("p95_ms", "p95 (ms)"),
    ("item_knn", "Item kNN"), ("Already in words", "Already in words"), ("", ""), (None, ""),
])
def test_humanize_label_turns_machine_names_into_words(raw, words):
    assert humanize_label(raw) == words


@pytest.mark.parametrize("number, text", [
    (0.8191234567890123, "0.819"), (49.0, "49"), (1.0, "1"), (12345.6, "12,346"), (1234.5678, "1235"),
    (0.000012345, "1.23 × 10⁻⁵"), (-0.0001234, "-1.23 × 10⁻⁴"), (0.00456, "4.56 × 10⁻³"), (0.0123, "0.0123"), (0, "0"), (None, "–"), (True, "yes"), ("n/a", "n/a"),
])
def test_sig3_keeps_three_significant_digits(number, text):
    assert sig3(number) == text


def test_percentages_scores_and_durations_read_as_words():
    assert (as_percent(0.8191), as_percent(0.5), as_percent(1), as_percent(None)) == ("81.9%", "50%", "100%", "–")
    assert as_percent(-0.00001) == "0%"
    # A neutral score that rounds to zero is 0.00, never "-0.00".
    assert (signed_score(-0.001), signed_score(0.4567), signed_score(-0.3)) == ("0.00", "+0.46", "-0.30")
    assert (human_duration(0.42), human_duration(12.345), human_duration(75), human_duration(5400)) == \
        ("420 ms", "12.3 s", "1 min 15 s", "1 h 30 min")


def test_human_value_renders_json_fields_without_python_reprs():
    text = human_value({"n_train": 49.0, "calibrated": True, "base": None, "tastes": ["Cooking", "Garden"],
                        "accuracy": 0.8333333333333334})
    assert text == "N train: 49; Calibrated: yes; Base: –; Tastes: Cooking, Garden; Accuracy: 0.833"
    for raw in ("{'", "['", "None", "True", "0.8333"):
        assert raw not in text
    assert human_value({"config": {"method": "head", "epochs": 3}, "activate": "if_better"}) == \
        "Config (method: head, epochs: 3); Activate: if better"


def test_the_filters_load_in_a_template():
    rendered = Template("{% load display %}{{ key|humanize_label }} {{ value|sig3 }} {{ share|as_percent }}").render(
        Context({"key": "refund_status", "value": 0.123456, "share": 0.25}))
    assert rendered == "Refund status 0.123 25%"
