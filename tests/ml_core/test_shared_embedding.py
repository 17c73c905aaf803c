"""ml_core.serving's shared-embedding seam: a head on the shared embedding only when it fits."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ml_core.backbone import encode_texts, load_sentence_encoder, select_device
from ml_core.data import LabelledTexts
from ml_core.serving import ClassifierPredictor, SharedEmbeddingClassifier, load_shared_embedding_classifier
from ml_core.training import ClassifierConfig, train_classifier

TEXTS = ["where is my parcel", "my parcel never came", "refund my money", "I want a refund", "parcel lost",
         "money back please"] * 5
LABELS = ["delivery", "delivery", "refund", "refund", "delivery", "refund"] * 5
PROBE = ["the parcel is late", "give me my money back", "hello"]


@pytest.fixture(scope="module")
def head_folder(tiny_encoder_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("head") / "model"
    train_classifier(ClassifierConfig(method="head", base_model=str(tiny_encoder_path), device="cpu", seed=0),
                     LabelledTexts(TEXTS, LABELS), folder)
    return folder


def shared_embeddings(backbone, texts):
    encoder = load_sentence_encoder(str(backbone), select_device("cpu"))
    return encode_texts(encoder, texts, normalize=False)


def test_a_head_on_the_shared_backbone_is_applied_to_its_embedding(head_folder, tiny_encoder_path):
    classifier = load_shared_embedding_classifier(head_folder, shared_backbone=str(tiny_encoder_path))
    assert classifier.on_shared_embedding and classifier.predictor is None
    np.testing.assert_allclose(classifier.probabilities(PROBE, shared_embeddings(tiny_encoder_path, PROBE)),
                               ClassifierPredictor.load(head_folder).predict_proba(PROBE), atol=1e-4)
    with pytest.raises(ValueError, match="pass the texts' embeddings"):
        classifier.probabilities(PROBE, None)


def test_a_head_pooled_otherwise_goes_through_the_predictor(head_folder, tiny_encoder_path, tmp_path):
    """Same backbone, other pooling (CLS instead of the backbone's mean): its head would read the
    wrong features, so it is served in full."""
    folder = tmp_path / "cls"
    shutil.copytree(head_folder, folder)
    config = json.loads((folder / "classifier.json").read_text())
    (folder / "classifier.json").write_text(json.dumps({**config, "pooling": "cls"}))
    classifier = load_shared_embedding_classifier(folder, shared_backbone=str(tiny_encoder_path))
    assert not classifier.on_shared_embedding and classifier.weight is None
    np.testing.assert_allclose(classifier.probabilities(PROBE, shared_embeddings(tiny_encoder_path, PROBE)),
                               ClassifierPredictor.load(folder).predict_proba(PROBE), atol=1e-6)


def test_a_head_on_another_backbone_goes_through_the_predictor(head_folder):
    classifier = load_shared_embedding_classifier(head_folder, shared_backbone="all-MiniLM-L6-v2")
    assert not classifier.on_shared_embedding
    assert classifier.labels == ["delivery", "refund"]
    assert classifier.probabilities(PROBE, None).shape == (3, 2)


def test_a_classifier_has_a_head_or_a_predictor_not_both_nor_neither():
    with pytest.raises(ValueError, match="either a head"):
        SharedEmbeddingClassifier(labels=["a", "b"])
