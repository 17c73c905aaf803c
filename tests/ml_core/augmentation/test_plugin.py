"""The augmentation plugin in training: few-label sampling, augmented rows marked in the training
data summary, the model filter with a real trained classifier, and clear errors for bad options."""
import json

import pytest

from ml_core.augmentation import AugmentationOptions, augment_labelled, few_shot_sample
from ml_core.augmentation.augment import AugmentationError
from ml_core.augmentation.backtranslation import BackTranslationUnavailable
from ml_core.augmentation.filtering import Candidate, filter_candidates
from ml_core.data import LabelledTexts
from ml_core.serving import ClassifierPredictor
from ml_core.training import ClassifierConfig, ConfigError, train_classifier


def config_for(encoder, **changes) -> ClassifierConfig:
    base = {"base_model": str(encoder), "epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "device": "cpu",
                "max_length": 32, "seed": 3}
    return ClassifierConfig(**{**base, **changes})


def test_few_shot_sample_keeps_k_per_class_deterministically(labelled):
    sample = few_shot_sample(labelled, 2, seed=5)
    assert sorted(sample.labels) == sorted(["card_arrival", "refund", "transfer"] * 2)
    assert sample.texts == few_shot_sample(labelled, 2, seed=5).texts
    assert set(sample.texts) <= set(labelled.texts)
    assert sample.stats["few_shot"] == {"k": 2, "seed": 5, "from": 12}
    assert len(few_shot_sample(labelled, 10, seed=5)) == 12  # fewer than k: the whole class


def test_augmentation_is_deterministic_and_marks_its_rows(labelled, tiny_encoder_path):
    options = {"ops": ["eda", "typo"], "per_example": 2, "filter": "none", "synonym_min_similarity": 0.5,
               "duplicate_similarity": 1.0}
    first, summary = augment_labelled(labelled, options, backbone=str(tiny_encoder_path), seed=1)
    again, _ = augment_labelled(labelled, options, backbone=str(tiny_encoder_path), seed=1)
    assert first.texts == again.texts and len(first) > len(labelled)
    assert first.texts[: len(labelled)] == labelled.texts  # originals first, unchanged
    for text, label, meta in zip(first.texts[len(labelled):], first.labels[len(labelled):], first.meta[len(labelled):]):
        assert meta["augmented"] in ("eda", "typo") and text.strip()
        assert label == labelled.labels[meta["augmented_from"]]
    assert summary["augmented"] == len(first) - len(labelled) == summary["kept"]
    assert set(summary["per_op"]) == {"eda", "typo"} and summary["synonyms"]["source"] == "encoder"


def test_training_with_augmentation_records_it_in_the_training_data_summary(tmp_path, labelled, tiny_encoder_path):
    valid = LabelledTexts(["my card has not come", "refund it please", "stop that transfer"],
                          ["card_arrival", "refund", "transfer"])
    config = config_for(tiny_encoder_path, method="full", plugins={"augmentation": {
        "ops": ["typo", "word_swap"], "per_example": 1, "few_shot_k": 3, "filter": "none",
        "duplicate_similarity": 1.0}})
    result = train_classifier(config, labelled, tmp_path / "m", valid=valid)
    summary = json.loads((tmp_path / "m" / "training_data.json").read_text())
    augmentation = summary["plugins"]["augmentation"]
    assert augmentation["few_shot"]["k"] == 3 and augmentation["originals"] == 9
    assert augmentation["augmented"] == result.metrics["n_train"] - 9 > 0
    assert summary["train"]["n"] == 12  # what was given, before sampling and augmentation
    assert result.training_data_summary["plugins"]["augmentation"] == augmentation


def test_model_filter_keeps_what_the_trained_model_agrees_with(tmp_path, labelled, tiny_encoder_path):
    train_classifier(config_for(tiny_encoder_path, method="head"), labelled, tmp_path / "m", valid=labelled)
    predictor = ClassifierPredictor.load(tmp_path / "m")
    candidates = [Candidate(t + " today", y, "eda", i) for i, (t, y) in enumerate(zip(labelled.texts, labelled.labels))]
    candidates += [Candidate(t + " now", "refund", "eda", i) for i, t in enumerate(labelled.texts)]
    predicted = [p.label for p in predictor.predict([c.text for c in candidates])]
    result = filter_candidates(labelled.texts, labelled.labels, candidates, mode="model", predictor=predictor)
    assert [c.text for c in result.kept] == [c.text for c, p in zip(candidates, predicted) if p == c.label]
    assert result.summary()["dropped_label"] == sum(p != c.label for c, p in zip(candidates, predicted))


@pytest.mark.parametrize("options, message", [
    ({"ops": ["eda", "telepathy"]}, "unknown augmentation 'telepathy'"),
    ({"opps": ["eda"]}, "unknown augmentation option\\(s\\): opps"),
    ({"per_example": 0}, "per_example must be between 1 and 20"),
    ({"few_shot_k": 0}, "few_shot_k must be a whole number >= 1"),
    ({"filter": "vote"}, "filter must be one of encoder, model, none"),
    ({"filter": "model"}, "needs filter_model"),
    ({"strength": 0.9}, "strength must be in"),
])
def test_unknown_or_bad_augmentation_options_are_clear_errors(options, message):
    with pytest.raises(AugmentationError, match=message):
        AugmentationOptions.from_dict(options)


def test_bad_plugin_options_fail_before_training(labelled, tiny_encoder_path, tmp_path):
    with pytest.raises(ConfigError, match="unknown augmentation"):
        train_classifier(config_for(tiny_encoder_path, plugins={"augmentation": {"ops": ["nope"]}}), labelled, None)
    with pytest.raises(ConfigError, match="unknown training plugin 'augmentations'"):
        train_classifier(config_for(tiny_encoder_path, plugins={"augmentations": {}}), labelled, None)


def test_backtranslation_says_it_is_unavailable_without_models():
    with pytest.raises(BackTranslationUnavailable, match="back-translation is unavailable: no translation model"):
        AugmentationOptions.from_dict({"ops": ["backtranslation"]})
    with pytest.raises(BackTranslationUnavailable, match="not a model folder"):
        AugmentationOptions.from_dict({"ops": ["backtranslation"], "translation_models": ["/nowhere/a", "/nowhere/b"]})
