"""The intent seam checks pooling as well as the backbone (ml_core.serving's shared-embedding seam):
a head trained on the same backbone but pooled otherwise would read the wrong features from the
shared embedding, so it is served by the full predictor (before issue 19 the chat applied it)."""
from __future__ import annotations

import json
import shutil

import pytest

from apps.core.services.registry import artifact_dir
from apps.customer_service.serving import (
    EmbeddingHeadIntentModel,
    PredictorIntentModel,
    embed_texts,
    intent_model_load,
)
from ml_core.serving import ClassifierPredictor

pytestmark = pytest.mark.django_db


def test_a_head_pooled_otherwise_goes_through_the_predictor(intent_model, tmp_path):
    assert isinstance(intent_model_load(artifact_dir(intent_model)), EmbeddingHeadIntentModel)
    folder = tmp_path / "cls-pooled"
    shutil.copytree(artifact_dir(intent_model), folder)
    config = json.loads((folder / "classifier.json").read_text())
    (folder / "classifier.json").write_text(json.dumps({**config, "pooling": "cls"}))
    model = intent_model_load(folder)
    assert isinstance(model, PredictorIntentModel)
    text = "where is my parcel"
    expected = ClassifierPredictor.load(folder).predict_one(text, top_k=2).top_k
    assert model.predict(text, embed_texts([text])[0], top_k=2) == [(label, float(p)) for label, p in expected]
