"""Fine-tuning the real bundled all-MiniLM-L6-v2 for a few steps on a slice of Banking77."""
import numpy as np
import pytest

from ml_core.data import load_labelled, stratified_split
from ml_core.serving import ClassifierPredictor
from ml_core.training import ClassifierConfig, train_classifier
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.slow


def test_fine_tuning_the_bundled_model_lowers_the_loss_and_round_trips(tmp_path):
    data = load_labelled(SHARED_DATA / "banking77" / "train.csv", label_col="category")
    keep = set(data.label_set[:8])
    per_label: dict[str, int] = {}
    indices = []
    for i, label in enumerate(data.labels):  # the first 15 examples of 8 intents
        if label in keep and per_label.get(label, 0) < 15:
            per_label[label] = per_label.get(label, 0) + 1
            indices.append(i)
    train, valid = stratified_split(data.subset(indices), test_fraction=0.25, seed=0)
    # A random head, so the loss starts high and the fall is the encoder and head learning.
    config = ClassifierConfig(method="full", init_head="random", epochs=2, batch_size=16, max_length=48,
                              learning_rate=1e-4, head_learning_rate=3e-3, device="cpu", cpu_threads=2,
                              early_stopping_patience=0, seed=1)
    result = train_classifier(config, train, tmp_path / "model", valid=valid)
    first, second = result.curves[1], result.curves[2]
    assert second["train_loss"] < first["train_loss"] < np.log(8) + 0.5
    assert second["valid_loss"] < result.curves[0]["valid_loss"]
    assert result.metrics["accuracy"] > 0.5  # 8 intents, chance is 0.125

    predictor = ClassifierPredictor.load(tmp_path / "model")
    import torch

    with torch.no_grad():
        encoded = result.tokenizer(valid.texts, padding=True, truncation=True, max_length=48, return_tensors="pt")
        in_memory = result.model(encoded["input_ids"], encoded["attention_mask"]).numpy()
    np.testing.assert_allclose(predictor.predict_logits(valid.texts), in_memory, atol=1e-4)
    again = ClassifierPredictor.load(tmp_path / "model")
    assert [p.label for p in again.predict(valid.texts)] == [p.label for p in predictor.predict(valid.texts)]
