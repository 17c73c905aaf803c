"""A tiny fine-tuned classifier and its compressed variants, built once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

from ml_core.data import LabelledTexts, stratified_split
from tests.ml_core.test_training import toy_data

# Timing is not what these tests check: a couple of calls per variant keep them fast, and a
# variant is promoted on accuracy alone (two calls on a busy machine once timed int8 at 0.37x).
FAST_TIMING = {"latency_rounds": 1, "latency_calls": 2, "latency_texts": 8, "batch_sizes": (1, 8), "parity_texts": 40,
               "calibration_texts": 32, "min_speedup": 0.0}


@pytest.fixture(scope="session")
def toy_splits() -> tuple[LabelledTexts, LabelledTexts]:
    return stratified_split(toy_data(), test_fraction=0.3, seed=1)


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory, tiny_encoder_path, toy_splits) -> Path:
    """A `full` classifier fine-tuned on the toy data (accurate: the words give the label away)."""
    from ml_core.training import ClassifierConfig, train_classifier

    train, valid = toy_splits
    folder = tmp_path_factory.mktemp("tiny-classifier") / "model"
    config = ClassifierConfig(base_model=str(tiny_encoder_path), method="full", epochs=2, batch_size=16,
                              learning_rate=1e-3, device="cpu", max_length=32, seed=3)
    train_classifier(config, train, folder, valid=valid)
    return folder


@pytest.fixture(scope="session")
def int8_classifier(tmp_path_factory, tiny_classifier, toy_splits) -> Path:
    """The tiny classifier compressed to dynamic int8 and promoted (a complete folder)."""
    from ml_core.compression import CompressionConfig, compress_classifier

    train, valid = toy_splits
    out = tmp_path_factory.mktemp("int8") / "model"
    result = compress_classifier(tiny_classifier, eval_data=valid, train_data=train, out_dir=out,
                                 config=CompressionConfig(methods=("int8",), max_accuracy_drop=100.0, **FAST_TIMING))
    assert result.promoted == "onnx-int8", result.reason
    return out
