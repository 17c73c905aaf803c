"""The chat knows what it does not know (issue 16, items 1, 5): the open-intent detector is fitted
when the intent model is trained, loaded with it, and open messages are never answered from a
template; they get what the assistant can help with, an offer of a person, and the review queue
(grouped); the settings page shows the threshold and its calibration curve; analytics count them."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from apps.core.models import ModelVersion
from apps.core.services.registry import LoadedModel, artifact_dir
from apps.customer_service import selectors
from apps.customer_service.cascade import RetrievalCalibration
from apps.customer_service.models import Conversation, Message
from apps.customer_service.services.chat import assistant_settings_update, chat_message_handle
from apps.customer_service.serving import SCENARIO, assistant
from ml_core.open_intent import CalibrationCurve, OpenIntentConfig

pytestmark = pytest.mark.django_db


class _Detector:
    """An open-intent detector whose score for every message is set by the test (the real one is
    ml_core's, fitted by the training job below); its curve is a real calibration curve."""

    def __init__(self, score: float) -> None:
        self.score = score
        self.curve = CalibrationCurve.from_scores(np.linspace(0.4, 1.0, 201), score="test score")
        self.config = OpenIntentConfig(method="knn", logit_score=None)

    def scores(self, vectors):
        return np.full(len(np.atleast_2d(vectors)), self.score, dtype=np.float32)

    def threshold_for(self, rate):
        return self.curve.threshold_for(rate)


class _Classifier:
    labels = ["track_order", "get_refund"]

    def __init__(self, intents, detector):
        self.intents, self.open_detector = intents, detector

    def predict(self, text, embedding, top_k=3):
        return self.intents[:top_k]


@pytest.fixture
def served(kb, monkeypatch):
    """set(intents, open score): what the model says; retrieval answers only above `retrieval`."""
    def set_model(intents, score, retrieval=2.0):
        loaded = LoadedModel(0, 7, SCENARIO, _Classifier(intents, _Detector(score)), time.time())
        monkeypatch.setattr(assistant().intent_models, "get", lambda: loaded)
        monkeypatch.setattr(assistant().index, "ensure_calibrated",
                            lambda target: RetrievalCalibration(threshold=retrieval))
    return set_model


def test_an_open_message_says_what_the_assistant_can_help_with_and_offers_a_person(site, served):
    # "do you sell bicycles?" got the delivery answer at confidence 0.85.
    served([("track_order", 0.85), ("get_refund", 0.05)], score=0.41)  # threshold at 5 %: 0.43
    result = chat_message_handle(site=site, text="do you sell bicycles?")
    reply = result["reply"]
    assert (reply["source"], reply["entries"], result["status"]) == ("open", [], "bot")  # offered, not handed over
    assert reply["text"] == ("I'm sorry, that is not something I can help with here. I can help with “Forgotten "
                             "password”, “Refunds” and “Where is my order?”. Would you like me to connect you "
                             "with a person?")
    question = Message.objects.get(pk=result["message_id"])
    assert (question.needs_review, question.review_reason, question.intent) == (True, "open", "track_order")
    assert question.embedding is not None


def test_a_known_message_is_answered_as_before(site, served):
    served([("track_order", 0.85), ("get_refund", 0.05)], score=0.9)
    reply = chat_message_handle(site=site, text="where is my order")["reply"]
    assert (reply["source"], reply["intent"]) == ("template", "track_order")


def test_the_refusal_share_sets_the_threshold_and_zero_turns_the_check_off(site, served):
    served([("track_order", 0.85), ("get_refund", 0.05)], score=0.5)
    assert chat_message_handle(site=site, text="do you sell bicycles?")["reply"]["source"] == "template"  # 0.5 >= 0.43
    assistant_settings_update(values={"open_intent_refusal_rate": 0.25})  # threshold 0.55
    assert chat_message_handle(site=site, text="do you sell bicycles?")["reply"]["source"] == "open"
    assistant_settings_update(values={"open_intent_refusal_rate": 0.0})
    assert chat_message_handle(site=site, text="do you sell bicycles?")["reply"]["source"] == "template"


def test_an_open_message_close_enough_to_a_text_is_answered_from_it(site, kb, served):
    served([("track_order", 0.85), ("get_refund", 0.05)], score=0.41, retrieval=0.0)
    result = chat_message_handle(site=site, text="I forgot my password")  # a knowledge-base question
    assert result["reply"]["source"] == "retrieval" and result["reply"]["entries"][0]["id"] == kb["reset_password"]
    assert not Message.objects.get(pk=result["message_id"]).needs_review


def test_open_messages_are_grouped_in_the_review_queue(site, served, operator_client):
    served([("track_order", 0.6), ("get_refund", 0.2)], score=0.2)
    for text in ("do you sell bicycles?", "do you sell bicycles?", "what is the capital of France"):
        chat_message_handle(site=site, text=text)
    # The tiny test encoder puts every two texts close together: a tight distance tells them apart.
    groups = selectors.review_groups(reason="open", distance=1e-4)
    assert sorted(g.size for g in groups) == [1, 2]  # the same question twice is one group
    biggest = max(groups, key=lambda g: g.size)
    assert biggest.representative.text == "do you sell bicycles?" and biggest.reasons == {"outside the knowledge base": 2}
    assert selectors.review_groups(reason="not_helpful") == []
    page = operator_client.get("/customer-service/review/?reason=open").content.decode()
    assert "do you sell bicycles?" in page and "outside the knowledge base" in page
    assert operator_client.get("/customer-service/review/?reason=nonsense").status_code == 200  # ignored filter


def test_analytics_count_open_and_small_talk_messages(site, served, operator_client):
    served([("track_order", 0.6), ("get_refund", 0.2)], score=0.2)
    chat_message_handle(site=site, text="do you sell bicycles?")
    chat_message_handle(site=site, text="hello")
    chat_message_handle(site=site, text="thanks!")
    served([("track_order", 0.9), ("get_refund", 0.05)], score=0.9)
    chat_message_handle(site=site, text="where is my order")
    data = operator_client.get("/customer-service/analytics/?format=json").json()
    assert (data["open_count"], data["smalltalk_count"], data["replies"]) == (1, 2, 4)
    assert data["open_rate"] == 0.25 and data["smalltalk_rate"] == 0.5
    assert data["smalltalk_kinds"] == {"greeting": 1, "thanks": 1}
    assert [row["intent"] for row in data["top_intents"]] == ["track_order"]  # answered intents only
    today = data["series"][-1]
    assert (today["open"], today["smalltalk"]) == (1, 2)
    page = operator_client.get("/customer-service/analytics/").content.decode()
    assert 'id="cs-kpi-open"' in page and 'id="cs-kpi-smalltalk"' in page


def _train_through_the_job():
    """The suite's training job, in this process, exactly as the worker runs it."""
    from apps.core.services.jobs import job_create, job_run
    from apps.core.tasks import train_classifier_job

    job = job_create(kind=train_classifier_job.name, title="train", scenario=SCENARIO,
                     params={"config": {"method": "head", "device": "cpu"}, "activate": "always"})
    job_run(job_id=job.pk, work=train_classifier_job.work, worker="test")
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    return ModelVersion.objects.get(scenario=SCENARIO, is_active=True)


def test_training_fits_the_detector_into_the_version_and_the_chat_loads_it(site, kb, admin_client):
    assistant_settings_update(values={"open_intent_refusal_rate": 0.1})
    version = _train_through_the_job()
    folder = artifact_dir(version)
    saved = json.loads((folder / "open_intent.json").read_text())
    assert (folder / "open_intent.npz").is_file()
    # Fitted on every known question (20, labelled), calibrated on held-out folds, at the settings' share.
    assert saved["config"]["target_false_rejection"] == 0.1 and saved["calibration"]["n"] == 20
    assert version.metrics["open_intent_calibration_n"] == 20
    assert version.metrics["open_intent_threshold"] == pytest.approx(saved["threshold"])
    # The manifest covers the detector's files: a damaged detector is a damaged version.
    manifest = (folder / "MANIFEST.json").read_text()
    assert "open_intent.json" in manifest and "open_intent.npz" in manifest

    loaded = assistant().intent_models.get()
    assert loaded.version == version.version and loaded.model.open_detector is not None
    # A knowledge-base question is as known as can be (its own vector is in the detector).
    result = chat_message_handle(site=site, text="where is my order")
    assert result["reply"]["source"] != "open"

    page = admin_client.get("/customer-service/settings/").content.decode()
    assert 'id="cs-open-calibration"' in page and 'data-cs-chart="open-calibration"' in page
    status = selectors.open_intent_status(0.1)
    assert status["threshold"] == pytest.approx(saved["threshold"]) and status["n"] == 20
    assert f'{status["threshold"]:.4f}' in page
    rates = [r for _, r in status["points"]]
    assert rates[0] == 0.0 and rates[-1] == 1.0 and rates == sorted(rates)


def test_a_version_without_a_detector_answers_as_before_and_the_settings_page_says_so(site, kb, admin_client):
    """A version trained before detectors existed: no open-intent check, no curve."""
    from django.conf import settings

    from apps.core.services.registry import BuiltArtifact, model_version_activate, model_version_create
    from apps.customer_service.services.training import intent_training_data
    from ml_core.training import ClassifierConfig, train_classifier

    data = intent_training_data({})
    config = ClassifierConfig(method="head", base_model=settings.ML_BACKBONE, device="cpu", seed=0)
    version = model_version_create(scenario=SCENARIO, build=lambda folder: (
        train_classifier(config, data.train, folder), BuiltArtifact(metrics={}, base_model=config.base_model))[1])
    model_version_activate(version=version)
    assistant().intent_models.invalidate()
    assert assistant().intent_models.get().model.open_detector is None
    assert chat_message_handle(site=site, text="where is my order")["reply"]["source"] != "open"
    page = admin_client.get("/customer-service/settings/").content.decode()
    assert "has no open-intent detector yet" in page


def test_a_conversation_with_an_open_question_stays_with_the_bot(site, served):
    served([("track_order", 0.6)], score=0.1)
    first = chat_message_handle(site=site, text="do you sell bicycles?")
    assert Conversation.objects.get(pk=first["conversation_id"]).status == "bot"
