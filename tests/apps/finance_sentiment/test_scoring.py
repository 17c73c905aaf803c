"""Scoring beyond a batch: documents left pending until a model is active, rescoring history with
a new version (each score keeps its version, trends move by the difference), and a topic
classifier applied to the embedding scoring already computes."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from apps.core.models import Job
from apps.core.services.registry import BuiltArtifact, model_version_activate, model_version_create
from apps.finance_sentiment.models import Document, DocumentTopic, SentimentScore, Topic, TrendBucket
from apps.finance_sentiment.services.ingestion import documents_ingest
from apps.finance_sentiment.services.jobs import rebuild_scores_start
from apps.finance_sentiment.serving import embed, load_topic_classifier, sentiment_cache
from apps.finance_sentiment.tasks import score_pending

from .conftest import at, run_job, sentence

pytestmark = pytest.mark.django_db


def ingest(n: int, start: int = 0):
    items = [{"text": sentence(label, start + i), "published_at": at(0, 9, i).isoformat()}
             for i, label in enumerate(["negative", "neutral", "positive"] * (n // 3))]
    return documents_ingest(items=items, origin="api")


def test_documents_wait_for_a_model_then_get_scored(tiny_backbone, tiny_sentiment_folder, topic):
    result = ingest(6)
    job = run_job(result.batch.job)
    assert job.state == Job.State.FAILED and "there is no active finance sentiment model" in job.error
    assert Document.objects.filter(status="pending").count() == 6
    assert score_pending() is None  # still no model: nothing to start

    def build(folder: Path) -> BuiltArtifact:
        shutil.copytree(tiny_sentiment_folder, folder, dirs_exist_ok=True)
        return BuiltArtifact()

    model_version_activate(version=model_version_create(scenario="finance_sentiment.sentiment", build=build))
    sentiment_cache.invalidate()  # a serving process notices within ActiveModelCache's check interval
    job_id = score_pending()
    rescue = Job.objects.get(pk=job_id)
    assert rescue.params == {"pending": True}
    assert score_pending() is None  # one sweep at a time
    assert run_job(rescue).metrics["scored"] == 6
    assert not Document.objects.filter(status="pending").exists()


def test_a_batch_stored_without_a_scoring_job_is_swept_once_a_model_is_active(tiny_backbone, tiny_sentiment_folder,
                                                                               topic):
    items = [{"text": sentence(label, i), "published_at": at(0, 9, i).isoformat()}
             for i, label in enumerate(["negative", "neutral", "positive"])]
    result = documents_ingest(items=items, origin="demo", score_now=False)
    assert result.batch.job is None and Document.objects.filter(status="pending").count() == 3
    assert score_pending() is None  # no model yet

    def build(folder: Path) -> BuiltArtifact:
        shutil.copytree(tiny_sentiment_folder, folder, dirs_exist_ok=True)
        return BuiltArtifact()

    model_version_activate(version=model_version_create(scenario="finance_sentiment.sentiment", build=build))
    sentiment_cache.invalidate()
    assert run_job(Job.objects.get(pk=score_pending())).metrics["scored"] == 3


def test_activating_a_sentiment_version_starts_scoring_what_waited_at_once(tiny_backbone, tiny_sentiment_folder,
                                                                           topic, django_capture_on_commit_callbacks):
    items = [{"text": sentence(label, i), "published_at": at(0, 9, i).isoformat()}
             for i, label in enumerate(["negative", "neutral", "positive"])]
    documents_ingest(items=items, origin="demo", score_now=False)

    def build(folder: Path) -> BuiltArtifact:
        shutil.copytree(tiny_sentiment_folder, folder, dirs_exist_ok=True)
        return BuiltArtifact()

    version = model_version_create(scenario="finance_sentiment.sentiment", build=build)
    assert not Job.objects.filter(params__pending=True).exists()
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(version=version)
    sweep = Job.objects.get(params__pending=True)  # queued by the activation, not by beat's next sweep
    assert score_pending() is None  # one sweep at a time
    sentiment_cache.invalidate()
    assert run_job(sweep).metrics["scored"] == 3
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(version=version)  # again, with nothing pending: no job
    assert Job.objects.filter(params__pending=True).count() == 1


def test_rescoring_history_keeps_each_version_and_moves_trends(sentiment_model, tiny_sentiment_folder, topic,
                                                               admin_client):
    run_job(ingest(6).batch.job)
    confidence = {d.pk: max(d.p_negative, d.p_neutral, d.p_positive) for d in Document.objects.all()}

    def build(folder: Path) -> BuiltArtifact:
        shutil.copytree(tiny_sentiment_folder, folder, dirs_exist_ok=True)
        config = json.loads((folder / "classifier.json").read_text())
        config["temperature"] = config["temperature"] * 40  # much less sure of every answer
        (folder / "classifier.json").write_text(json.dumps(config))
        return BuiltArtifact()

    v2 = model_version_activate(version=model_version_create(scenario="finance_sentiment.sentiment", build=build))
    response = admin_client.post("/finance/models/rescore/")
    job = Job.objects.get(kind="finance_sentiment.rebuild_scores")
    assert response["Location"] == f"/jobs/{job.pk}/"
    job = run_job(job)
    assert job.state == Job.State.SUCCEEDED, job.error
    assert job.metrics["rescored"] == 6
    for document in Document.objects.all():
        assert document.sentiment_version_id == v2.pk
        assert max(document.p_negative, document.p_neutral, document.p_positive) < confidence[document.pk]
        history = list(SentimentScore.objects.filter(document=document).order_by("created_at")
                       .values_list("model_version__version", flat=True))
        assert history == [1, 2]
    bucket = TrendBucket.objects.get(series=f"topic:{topic.pk}", granularity="hour", start=at(0, 9))
    assert bucket.volume == 6
    assert bucket.score_sum == pytest.approx(sum(d.score for d in Document.objects.all()), abs=1e-6)
    assert bucket.negative == Document.objects.filter(sentiment="negative").count()
    # Nothing left to rescore with the same version.
    assert run_job(rebuild_scores_start()).metrics["rescored"] == 0


def test_reassigning_topics_moves_the_topic_trends(sentiment_model, topic):
    run_job(ingest(6).batch.job)
    other = Topic.objects.create(name="Everything", slug="everything", keywords=["company"], threshold=0.0)
    Topic.objects.filter(pk=topic.pk).update(threshold=1.0)  # nothing reaches it any more
    job = run_job(rebuild_scores_start(sentiment=False, topics=True))
    assert job.metrics["topics_moved"] == 6, job.error
    assert set(DocumentTopic.objects.values_list("topic_id", flat=True)) == {other.pk}
    old = TrendBucket.objects.get(series=f"topic:{topic.pk}", granularity="day", start=at(0, 0))
    new = TrendBucket.objects.get(series=f"topic:{other.pk}", granularity="day", start=at(0, 0))
    assert (old.volume, new.volume) == (0, 6)
    assert TrendBucket.objects.get(series="all", granularity="day", start=at(0, 0)).volume == 6


def test_a_topic_classifier_is_applied_to_the_shared_embedding(sentiment_model, topic, tiny_backbone, tmp_path,
                                                               settings):
    from ml_core.data import LabelledTexts
    from ml_core.serving import ClassifierPredictor
    from ml_core.training import ClassifierConfig, train_classifier

    # On the torch encoder the head must give exactly the predictor's probabilities (on the int8
    # default it gets vectors with a cosine of about 0.99 to those it was trained on).
    settings.FINANCE_TOPIC_ENCODER = "torch"

    other = Topic.objects.create(name="Rates", slug="rates", keywords=["rate"], threshold=1.0)
    texts = [sentence("negative", i) for i in range(30)] + [sentence("positive", i) for i in range(30)]
    labels = ["earnings"] * 30 + ["rates"] * 30
    folder = tmp_path / "topics"
    train_classifier(ClassifierConfig(method="head", base_model=str(tiny_backbone), device="cpu", max_length=64),
                     LabelledTexts(texts, labels), folder)
    classifier = load_topic_classifier(folder)
    assert classifier.weight is not None and classifier.predictor is None  # no second encoder pass
    probe = [sentence("negative", 500), sentence("positive", 501), "Rates and earnings"]
    np.testing.assert_allclose(classifier.probabilities(probe, embed(probe)),
                               ClassifierPredictor.load(folder).predict_proba(probe), atol=1e-4)

    def build(target: Path) -> BuiltArtifact:
        shutil.copytree(folder, target, dirs_exist_ok=True)
        return BuiltArtifact()

    model_version_activate(version=model_version_create(scenario="finance_sentiment.topics", build=build))
    result = documents_ingest(items=[{"text": sentence("positive", 700), "published_at": at(0, 9).isoformat()}],
                              origin="api")
    run_job(result.batch.job)
    links = {link.topic_id: link for link in DocumentTopic.objects.filter(document_id=result.document_ids[0])}
    assert links[other.pk].method == "classifier" and links[other.pk].is_primary
    assert not links[topic.pk].is_primary  # still assigned by similarity (threshold 0), not primary


def test_topics_can_be_matched_on_the_int8_onnx_encoder(sentiment_model, topic, settings):
    """FINANCE_TOPIC_ENCODER moves topic matching to ONNX Runtime; the topics' own vectors are
    embedded again by the same encoder (a matcher built on torch's vectors is not reused)."""
    from django.core.exceptions import ImproperlyConfigured

    from apps.core.services.encoders import configured_encoder
    from apps.finance_sentiment.serving import TOPIC_ENCODER_SETTING, scoring_models, topic_matcher
    from ml_core.serving.onnx_backend import OnnxSentenceEncoder

    on_torch = scoring_models(fresh=True).topics
    settings.FINANCE_TOPIC_ENCODER = "onnx-int8"
    topic_matcher.invalidate()
    models = scoring_models()
    encoder = configured_encoder(TOPIC_ENCODER_SETTING)
    assert isinstance(encoder, OnnxSentenceEncoder) and encoder.variant == "int8"
    assert models.topics is not on_torch
    texts = [spec for t in models.topics.topics for spec in t.prototypes]
    expected = embed(texts)
    np.testing.assert_allclose(models.topics.prototypes, expected / np.linalg.norm(expected, axis=1, keepdims=True),
                               atol=1e-5)
    result = ingest(3)
    assert run_job(result.batch.job).metrics["scored"] == 3
    assert DocumentTopic.objects.filter(topic=topic).count() == 3  # threshold 0: every document
    settings.FINANCE_TOPIC_ENCODER = "int4"
    with pytest.raises(ImproperlyConfigured, match="FINANCE_TOPIC_ENCODER must be one of torch, onnx, onnx-int8"):
        embed(["x"])


def test_the_two_passes_run_side_by_side_on_half_the_cores_each_with_the_same_results(sentiment_model, topic,
                                                                                     settings, monkeypatch):
    import threading

    from apps.finance_sentiment.serving import pass_threads, scoring_models, topic_matcher
    from ml_core.serving import OnnxSentenceEncoder

    monkeypatch.setenv("ML_ONNX_THREADS", "2")
    settings.FINANCE_TOPIC_ENCODER = "onnx-int8"
    topic_matcher.invalidate()
    models = scoring_models()
    texts = [sentence(label, i) for i, label in enumerate(["negative", "neutral", "positive"] * 4)]
    threads, encoder_threads = [], []
    encode = OnnxSentenceEncoder.encode
    monkeypatch.setattr(OnnxSentenceEncoder, "encode", lambda self, *a, **k: encoder_threads.append(
        self.session.get_session_options().intra_op_num_threads) or encode(self, *a, **k))
    assign = models.assign_topics
    monkeypatch.setattr(models, "assign_topics", lambda t: threads.append(threading.current_thread()) or assign(t))
    probabilities, topics = models.sentiment_and_topics(texts)
    assert threads and threads[0] is not threading.current_thread()
    np.testing.assert_allclose(probabilities, models.sentiment.probabilities(texts), atol=1e-6)
    assert [[(a.topic_id, a.similarity) for a in row] for row in topics] == \
        [[(a.topic_id, a.similarity) for a in row] for row in assign(texts)]
    assert pass_threads() == 1 and encoder_threads and set(encoder_threads) == {1}  # the topic pass ran on one
