"""ml_core.options: every config dataclass reads plain data the same way, with its own words."""
from __future__ import annotations

import pytest

from ml_core.augmentation.augment import AugmentationError, AugmentationOptions
from ml_core.compression.pipeline import CompressionConfig
from ml_core.errors import UserError
from ml_core.open_intent.detector import OpenIntentConfig, OpenIntentError
from ml_core.recsys.data import RecsysDataError
from ml_core.recsys.training import RecsysConfig
from ml_core.training import ClassifierConfig, ConfigError


@pytest.mark.parametrize(("cls", "error", "message"), [
    (ClassifierConfig, ConfigError, r"^unknown training option\(s\): colour, size$"),
    (CompressionConfig, UserError, r"^unknown compression option\(s\): colour, size$"),
    (AugmentationOptions, AugmentationError, r"^unknown augmentation option\(s\): colour, size \(known: cache_dir, "),
    (RecsysConfig, RecsysDataError, r"^unknown recommender settings: colour, size$"),
    (OpenIntentConfig, OpenIntentError, r"^unknown open-intent option\(s\): colour, size$"),
])
def test_unknown_keys_are_refused_in_each_configs_words(cls, error, message):
    with pytest.raises(error, match=message):
        cls.from_dict({"size": 1, "colour": "red"})


def test_lists_become_tuples_and_comma_strings_become_items():
    assert ClassifierConfig.from_dict({"lora_target_modules": ["query", "value"]}).lora_target_modules == \
        ("query", "value")
    assert RecsysConfig.from_dict({"hybrid_components": ["item_knn"]}).hybrid_components == ("item_knn",)
    compression = CompressionConfig.from_dict({"methods": ["onnx"], "batch_sizes": [1, 8]})
    assert (compression.methods, compression.batch_sizes) == (("onnx",), (1, 8))
    assert CompressionConfig.from_dict({"methods": "onnx, int8"}).methods == ("onnx", "int8")
    assert AugmentationOptions.from_dict({"ops": "eda, char_noise"}).ops == ["eda", "char_noise"]
    assert AugmentationOptions.from_dict(None) == AugmentationOptions()


def test_each_config_still_validates_its_values():
    with pytest.raises(UserError, match="unknown compression method"):
        CompressionConfig.from_dict({"methods": ["zip"]})
    with pytest.raises(OpenIntentError, match="k must be a whole number"):
        OpenIntentConfig.from_dict({"k": 0})
    with pytest.raises(AugmentationError, match="per_example must be between 1 and 20"):
        AugmentationOptions.from_dict({"per_example": 0})
