"""The serving seam: one encoder pass per message, an index that follows the knowledge base."""
from __future__ import annotations

import numpy as np
import pytest

from apps.core.services.registry import artifact_dir
from apps.customer_service.services.kb import EntryFields, kb_entry_create, kb_entry_update
from apps.customer_service.serving import (
    EmbeddingHeadIntentModel,
    KnowledgeIndex,
    PredictorIntentModel,
    assistant,
    calibrate_retrieval,
    embed_texts,
    intent_model_load,
    normalise,
)
from ml_core.retrieval import VectorIndex
from ml_core.serving import ClassifierPredictor

pytestmark = pytest.mark.django_db


def test_the_head_on_the_shared_embedding_equals_the_predictor(intent_model):
    """The cheap path (no second encoder pass) gives the predictor's calibrated probabilities."""
    folder = artifact_dir(intent_model)
    cheap = intent_model_load(folder)
    assert isinstance(cheap, EmbeddingHeadIntentModel)
    reference = PredictorIntentModel(ClassifierPredictor.load(folder))
    texts = ["where is my parcel", "I forgot my password", "refund please", "talk to a human now"]
    embeddings = embed_texts(texts)
    for text, embedding in zip(texts, embeddings):
        fast = dict(cheap.predict(text, embedding[None, :], top_k=4))
        slow = dict(reference.predict(text, embedding, top_k=4))
        assert fast.keys() == slow.keys()
        assert max(abs(fast[k] - slow[k]) for k in fast) < 1e-4


def test_a_different_backbone_goes_through_the_predictor(intent_model, settings):
    settings.ML_BACKBONE = "all-MiniLM-L6-v2"  # the artifact was trained on the tiny encoder
    assert isinstance(intent_model_load(artifact_dir(intent_model)), PredictorIntentModel)


def test_the_index_follows_the_knowledge_base_incrementally(kb):
    index = KnowledgeIndex()
    assert index.sync(force=True)
    assert len(index.entries) == 4 and len(index.vectors) == 4 + 20
    before = {i: index.vectors.vector(i).copy() for i in index.vectors.ids}

    entry = kb_entry_create(fields=EntryFields.clean(title="Opening hours", answer="9 to 5.", intent="opening_hours"),
                            questions=["when are you open", "opening hours"])
    assert index.sync(force=True)
    assert len(index.vectors) == 24 + 3 and index.main_entry("opening_hours") == entry.pk
    hit = index.search(normalise(embed_texts(["when are you open"])))[0]
    assert (hit.entry_id, hit.kind) == (entry.pk, "question") and hit.score > 0.999
    assert all(np.array_equal(index.vectors.vector(i), v) for i, v in before.items())  # untouched rows kept

    kb_entry_update(entry=entry, fields=EntryFields.clean(title="Opening hours", answer="9 to 5.",
                                                          intent="opening_hours", is_active=False), questions=None)
    index.sync(force=True)
    assert entry.pk not in index.entries and len(index.vectors) == 24
    assert not index.sync()  # checked a moment ago: no query until the interval has passed


def test_retrieval_calibration_picks_the_similarity_that_reaches_the_precision():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 16))
    vectors, intents = [], {}
    for i in range(60):
        cluster = i % 2
        noise = 0.3 if i < 40 else 3.0  # the last 20 are far from their cluster: unreliable
        vectors.append(centres[cluster] + noise * rng.normal(size=16))
        intents[f"q{i}"] = "a" if cluster == 0 else "b"
    index = VectorIndex(16)
    index.add(list(intents), np.asarray(vectors))
    calibration = calibrate_retrieval(index, list(intents), intents, precision_target=0.95)
    assert calibration.n == 60 and 0.0 < calibration.threshold < 1.0
    assert calibration.probability(0.99) >= 0.95 > calibration.probability(-1.0)
    few = calibrate_retrieval(index, list(intents)[:5], intents, precision_target=0.95)
    assert few.threshold == 0.75 and not few.points  # too few questions: the documented default


def test_one_encoder_pass_per_message(kb, intent_model, monkeypatch):
    calls = []
    from apps.customer_service import serving

    real = serving.embed_texts
    monkeypatch.setattr(serving, "embed_texts", lambda texts, **kw: calls.append(list(texts)) or real(texts, **kw))
    understanding = assistant().understand("where is my order")
    assert calls == [["where is my order"]]
    assert understanding.intents and understanding.hits and understanding.model_version == intent_model.version
