"""Training on tiny random encoders: the plumbing of head / full / LoRA, artifacts, resume."""
import json
import threading

import numpy as np
import pytest

from ml_core.data import LabelledTexts, stratified_split, texts_digest
from ml_core.evaluation import evaluate, softmax
from ml_core.serving import ClassifierPredictor
from ml_core.training import (
    ClassifierConfig,
    ConfigError,
    TrainingPlugin,
    register_training_plugin,
    train_classifier,
)
from ml_core.training.model import ModelLoadError, read_artifact_config
from ml_core.training.plugins import _PLUGINS

WORDS = {
    "pos": ["great", "good", "excellent", "happy", "win"],
    "neg": ["bad", "awful", "terrible", "sad", "loss"],
    "neu": ["table", "chair", "report", "meeting", "monday"],
}


def toy_data(n: int = 120, seed: int = 0) -> LabelledTexts:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = list(WORDS)[i % 3]
        words = rng.choice(WORDS[label], size=3)
        texts.append(f"{' '.join(words)} number {i}")
        labels.append(label)
    return LabelledTexts(texts, labels, source="toy")


def config_for(encoder, **changes) -> ClassifierConfig:
    base = {"base_model": str(encoder), "epochs": 2, "batch_size": 16, "learning_rate": 1e-3, "device": "cpu",
                "max_length": 32, "seed": 3}
    return ClassifierConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def splits():
    return stratified_split(toy_data(), test_fraction=0.25, seed=1)


@pytest.mark.parametrize("method, own_files", [
    ("head", set()), ("full", {"encoder"}), ("lora", {"adapter"}),
])
def test_each_method_writes_a_self_describing_artifact_that_predicts_the_same(
        tmp_path, tiny_encoder_path, splits, method, own_files):
    train, valid = splits
    result = train_classifier(config_for(tiny_encoder_path, method=method), train, tmp_path / "m", valid=valid)
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert files == {"classifier.json", "head.safetensors", "tokenizer", "metrics.json", "curves.json",
                     "evaluation.json", "training_data.json"} | own_files
    config = read_artifact_config(tmp_path / "m")
    assert config.method == method and config.base_model == str(tiny_encoder_path)
    assert config.labels == ["neg", "neu", "pos"] == result.labels
    assert config.pooling == "mean" and config.temperature == pytest.approx(result.metrics["temperature"])
    assert config.training_config["method"] == method
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["n_train"] == len(train)
    # what the model saw, checkable later against a split (bench/finance_quality.py --teacher DIR)
    assert json.loads((tmp_path / "m" / "training_data.json").read_text())["texts_sha256"] == \
        texts_digest(stratified_split(train, test_fraction=0.5, seed=9)[0], valid, train)
    assert next(c["epoch"] for c in result.curves) == 0  # the logistic head, before fine-tuning
    if method != "head":
        assert all(c["seconds"] > 0 and c["train_loss"] is not None for c in result.curves[1:])
        assert result.metrics["seconds_per_epoch"] > 0

    predictor = ClassifierPredictor.load(tmp_path / "m")
    import torch

    with torch.no_grad():
        encoded = result.tokenizer(valid.texts, padding=True, return_tensors="pt")
        in_memory = result.model(encoded["input_ids"], encoded["attention_mask"]).numpy()
    # LoRA is merged into the encoder on load: equal up to float rounding.
    np.testing.assert_allclose(predictor.predict_logits(valid.texts), in_memory, atol=1e-4)
    report = evaluate(predictor, valid)
    assert report["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert report["n"] == len(valid) and report["ece"] == pytest.approx(result.metrics["ece"], abs=1e-6)


def test_predictor_outputs(tmp_path, tiny_encoder_path, splits):
    train, valid = splits
    train_classifier(config_for(tiny_encoder_path, method="head"), train, tmp_path / "m", valid=valid)
    predictor = ClassifierPredictor.load(tmp_path / "m")
    probs = predictor.predict_proba(valid.texts)
    assert probs.shape == (len(valid), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, softmax(predictor.predict_logits(valid.texts), predictor.temperature),
                               atol=1e-6)
    [first, *_] = predictor.predict(valid.texts[:3], top_k=2)
    assert len(first.top_k) == 2 and first.top_k[0] == (first.label, first.confidence)
    assert first.top_k[0][1] >= first.top_k[1][1]
    assert set(first.probabilities) == {"neg", "neu", "pos"}
    assert predictor.predict([], top_k=3) == []
    assert predictor.predict_one("great win", top_k=10).top_k.__len__() == 3
    with pytest.raises(Exception, match="list of texts"):
        predictor.predict("great win")

    # Thread-safe: many threads at once get what one thread gets.
    expected = predictor.predict_proba(valid.texts)
    results, errors = [], []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(predictor.predict_proba(valid.texts))
        except Exception as exc:  # pragma: no cover - reported below  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 20
    for got in results:
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_interrupted_training_resumes_from_its_checkpoint_and_ends_the_same(tmp_path, tiny_encoder_path, splits):
    train, valid = splits
    config = config_for(tiny_encoder_path, epochs=3, early_stopping_patience=0, early_stopping_metric="loss")
    straight = train_classifier(config, train, None, valid=valid)

    class Interrupt(Exception):
        pass

    def stop_after_first(record):
        if record["epoch"] == 1:
            raise Interrupt

    checkpoints = tmp_path / "ckpt"
    with pytest.raises(Interrupt):
        train_classifier(config, train, None, valid=valid, checkpoint_dir=checkpoints, on_epoch=stop_after_first)
    assert (checkpoints / "checkpoint.pt").is_file()
    resumed = train_classifier(config, train, tmp_path / "m", valid=valid, checkpoint_dir=checkpoints)
    assert resumed.resumed_from_epoch == 1
    assert [c["epoch"] for c in resumed.curves] == [0, 1, 2, 3]
    assert resumed.weights_digest == straight.weights_digest
    assert not checkpoints.exists()  # finished: nothing left to resume

    # A checkpoint of another configuration is not resumed.
    with pytest.raises(Interrupt):
        train_classifier(config, train, None, valid=valid, checkpoint_dir=checkpoints, on_epoch=stop_after_first)
    other = train_classifier(config.replace(learning_rate=5e-4), train, None, valid=valid, checkpoint_dir=checkpoints)
    assert other.resumed_from_epoch == 0


def test_early_stopping_keeps_the_best_epoch(tmp_path, tiny_encoder_path, splits):
    train, valid = splits
    # A learning rate this high wrecks the model after the first step: the logistic head stays best.
    config = config_for(tiny_encoder_path, epochs=6, learning_rate=0.5, head_learning_rate=0.5,
                        early_stopping_patience=2, early_stopping_metric="loss", max_grad_norm=0)
    result = train_classifier(config, train, tmp_path / "m", valid=valid)
    losses = [c["valid_loss"] for c in result.curves]
    best = int(np.argmin(losses))
    assert result.metrics["epochs_run"] == best + 2 < 6
    assert result.metrics["best_epoch"] == result.curves[best]["epoch"]
    kept = evaluate(ClassifierPredictor.load(tmp_path / "m"), valid)
    assert kept["accuracy"] == pytest.approx(result.curves[best]["valid_accuracy"], abs=1e-4)


def test_validation_split_is_held_out_when_none_is_given(tiny_encoder_path):
    data = toy_data(90)
    result = train_classifier(config_for(tiny_encoder_path, method="head", valid_fraction=0.2), data, None)
    assert result.metrics["n_train"] == 72 and result.metrics["n_valid"] == 18
    assert result.training_data_summary["valid_held_out_of_train"] is True


def test_class_weights_and_label_smoothing_train(tiny_encoder_path, splits):
    train, valid = splits
    result = train_classifier(config_for(tiny_encoder_path, epochs=1, class_weights="balanced",
                                         label_smoothing=0.1, init_head="random"), train, None, valid=valid)
    assert result.metrics["epochs_run"] == 1 and result.curves[0]["train_loss"] is None


def test_plugins_see_every_step_and_can_change_the_loss(tiny_encoder_path, splits):
    train, valid = splits
    calls = {"prepare": 0, "steps": 0, "epochs": []}

    class Doubler(TrainingPlugin):
        name = "doubler"

        def __init__(self, factor: float = 2.0) -> None:
            self.factor = factor

        def prepare_train(self, data, config):
            calls["prepare"] += 1
            return LabelledTexts(data.texts + ["great great great"], data.labels + ["pos"], source=data.source)

        def training_loss(self, step):
            calls["steps"] += 1
            again = step.loss_fn(step.forward(inputs_embeds=step.model.input_embeddings()(step.input_ids)),
                                 step.labels)
            return step.loss + (self.factor - 1) * again

        def on_epoch_end(self, epoch, record):
            calls["epochs"].append(epoch)

    register_training_plugin("doubler", Doubler)
    try:
        result = train_classifier(config_for(tiny_encoder_path, plugins={"doubler": {"factor": 3.0}}),
                                  train, None, valid=valid)
    finally:
        _PLUGINS.pop("doubler")
    assert calls["prepare"] == 1 and calls["epochs"] == [1, 2] and calls["steps"] > 0
    assert result.metrics["n_train"] == len(train) + 1
    with pytest.raises(ConfigError, match="unknown training plugin 'doubler'"):
        train_classifier(config_for(tiny_encoder_path, plugins={"doubler": {}}), train, None, valid=valid)


@pytest.mark.parametrize("changes, message", [
    ({"method": "prompt"}, "method must be one of head, full, lora"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"learning_rate": 0}, "learning rates must be positive"),
    ({"class_weights": "inverse"}, "class_weights must be None or 'balanced'"),
    ({"valid_fraction": 0.7}, r"valid_fraction must be in \(0, 0.5\)"),
    ({"normalize": "yes"}, "normalize must be true, false or null"),
])
def test_bad_options_are_refused_before_any_work(changes, message):
    with pytest.raises(ConfigError, match=message):
        ClassifierConfig(**changes).validate()


@pytest.mark.parametrize("normalize", [True, False])
def test_normalize_overrides_the_backbones_pooling_and_is_kept_in_the_artifact(tmp_path, tiny_encoder_path, splits,
                                                                              normalize):
    train, valid = splits
    result = train_classifier(config_for(tiny_encoder_path, method="head", normalize=normalize), train,
                              tmp_path / "m", valid=valid)
    assert result.model.normalize is normalize and read_artifact_config(tmp_path / "m").normalize is normalize
    import torch

    encoded = result.tokenizer(valid.texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        norms = result.model.embed(encoded["input_ids"], encoded["attention_mask"]).norm(dim=-1).numpy()
        in_memory = result.model(encoded["input_ids"], encoded["attention_mask"]).numpy()
    assert bool(np.allclose(norms, 1.0, atol=1e-5)) is normalize
    np.testing.assert_allclose(ClassifierPredictor.load(tmp_path / "m").predict_logits(valid.texts), in_memory,
                               atol=1e-4)


def test_config_round_trips_and_refuses_unknown_options():
    config = ClassifierConfig(method="lora", lora_r=4, plugins={"x": {"a": 1}})
    assert ClassifierConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError, match="unknown training option"):
        ClassifierConfig.from_dict({"lerning_rate": 1e-4})


def test_labels_only_in_validation_are_an_error(tiny_encoder_path, splits):
    train, valid = splits
    bad_valid = LabelledTexts(valid.texts + ["odd"], valid.labels + ["other"], source="valid.csv")
    with pytest.raises(Exception, match="validation data has a label that training data lacks.*'other'"):
        train_classifier(config_for(tiny_encoder_path), train, None, valid=bad_valid)


def test_not_an_artifact(tmp_path):
    with pytest.raises(ModelLoadError, match="has no classifier.json"):
        ClassifierPredictor.load(tmp_path)
    (tmp_path / "classifier.json").write_text('{"format": "something-else"}')
    with pytest.raises(ModelLoadError, match="is not a ml_core.text_classifier artifact"):
        ClassifierPredictor.load(tmp_path)


def test_training_can_start_from_a_trained_classifier(tmp_path, tiny_encoder_path, splits):
    """Intermediate-task transfer: fine-tune on one task, then start the next from that model."""
    train, valid = splits
    first = train_classifier(config_for(tiny_encoder_path, epochs=1), train, tmp_path / "first", valid=valid)
    binary = LabelledTexts([t for t, y in zip(train.texts, train.labels) if y != "neu"],
                           [y for y in train.labels if y != "neu"], source="binary")
    for method in ("full", "head"):
        second = train_classifier(config_for(tmp_path / "first", method=method, epochs=1, layer_lr_decay=0.8,
                                             freeze_embeddings=True, restore_best=False),
                                  binary, tmp_path / method)
        assert second.labels == ["neg", "pos"] and second.base_model == str(tmp_path / "first")
        predictor = ClassifierPredictor.load(tmp_path / method)
        assert predictor.labels == ["neg", "pos"] and predictor.config.normalize == read_artifact_config(
            tmp_path / "first").normalize
        assert len(predictor.predict(["great win"])[0].probabilities) == 2
    # The frozen token embeddings did not move; the encoder above them did.
    import torch

    before = first.model.encoder.get_input_embeddings().weight
    after = ClassifierPredictor.load(tmp_path / "full").backend.model.encoder.get_input_embeddings().weight
    assert torch.equal(before, after)


def test_train_top_layers_trains_only_the_top_layers_and_says_when_there_are_fewer(
        tmp_path, tiny_encoder_path, splits):
    import torch
    from transformers import AutoModel

    train, valid = splits
    pretrained = dict(AutoModel.from_pretrained(tiny_encoder_path).named_parameters())
    n_layers = 1 + max(int(name.split(".")[2]) for name in pretrained if name.startswith("encoder.layer."))
    result = train_classifier(config_for(tiny_encoder_path, train_top_layers=1, epochs=1, restore_best=False),
                              train, tmp_path / "m", valid=valid)
    top = f"encoder.layer.{n_layers - 1}."
    changed = {name for name, param in result.model.encoder.named_parameters()
               if name in pretrained and not torch.equal(param.detach(), pretrained[name])}
    assert changed and all(name.startswith(top) for name in changed)
    assert read_artifact_config(tmp_path / "m").training_config["train_top_layers"] == 1

    with pytest.raises(ConfigError, match=f"train_top_layers is {n_layers + 1} but .* has {n_layers} transformer"):
        train_classifier(config_for(tiny_encoder_path, train_top_layers=n_layers + 1), train, tmp_path / "x",
                         valid=valid)
    with pytest.raises(ConfigError, match="full method only"):
        config_for(tiny_encoder_path, method="lora", train_top_layers=1).validate()
