"""Serving: the promoted ONNX variant by default, PyTorch when it is missing or corrupt (and why)."""
import json
import logging
import shutil

import numpy as np
import pytest

from ml_core.serving import ClassifierPredictor
from ml_core.serving.onnx_backend import OnnxLogitsBackend


def _copy(folder, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(folder, target)
    return target


def test_the_promoted_int8_variant_is_served_by_default_with_explicit_threads(int8_classifier, toy_splits,
                                                                              monkeypatch):
    _, valid = toy_splits
    monkeypatch.setenv("ML_ONNX_THREADS", "1")
    predictor = ClassifierPredictor.load(int8_classifier)
    assert isinstance(predictor.backend, OnnxLogitsBackend)
    assert predictor.backend.path.name == "model.int8.onnx"
    assert predictor.backend.session.get_session_options().intra_op_num_threads == 1
    reference = ClassifierPredictor.load(int8_classifier, backend="torch")
    agree = (predictor.predict_proba(valid.texts).argmax(1) == reference.predict_proba(valid.texts).argmax(1)).mean()
    assert agree >= 0.95
    assert predictor.predict_one("great win").label == reference.predict_one("great win").label


def test_a_caller_can_give_one_model_fewer_threads_than_the_process_default(int8_classifier, monkeypatch):
    """Two models that run at once (finance scoring's two passes) each take half the cores."""
    monkeypatch.setenv("ML_ONNX_THREADS", "2")
    assert ClassifierPredictor.load(int8_classifier).backend.session.get_session_options().intra_op_num_threads == 2
    predictor = ClassifierPredictor.load(int8_classifier, threads=1)
    assert predictor.backend.session.get_session_options().intra_op_num_threads == 1
    assert ClassifierPredictor.load(int8_classifier, backend="torch", threads=1).predict_one("great win").label


def test_a_folder_without_onnx_is_served_by_pytorch_and_says_so(tiny_classifier, caplog):
    with caplog.at_level(logging.INFO, logger="ml_core.serving.onnx_backend"):
        predictor = ClassifierPredictor.load(tiny_classifier)
    assert predictor.backend.name == "torch"
    assert predictor.backend.fallback_reason == "the folder has no ONNX artifact"
    assert "serving PyTorch: the folder has no ONNX artifact" in caplog.text


def test_a_corrupt_onnx_file_falls_back_to_pytorch_with_the_reason_logged(int8_classifier, tmp_path, toy_splits,
                                                                          caplog):
    _, valid = toy_splits
    folder = _copy(int8_classifier, tmp_path)
    data = bytearray((folder / "model.int8.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the sha256 in serving.json catches it
    (folder / "model.int8.onnx").write_bytes(bytes(data))
    with caplog.at_level(logging.INFO, logger="ml_core.serving.onnx_backend"):
        predictor = ClassifierPredictor.load(folder)
    assert predictor.backend.name == "torch"
    assert "model.int8.onnx does not match the sha256 in serving.json" in caplog.text
    expected = ClassifierPredictor.load(int8_classifier, backend="torch").predict_logits(valid.texts)
    np.testing.assert_allclose(predictor.predict_logits(valid.texts), expected, atol=1e-5)


def test_an_unreadable_onnx_file_falls_back_to_pytorch_with_the_reason_logged(int8_classifier, tmp_path, caplog):
    folder = _copy(int8_classifier, tmp_path)
    (folder / "serving.json").unlink()
    (folder / "model.int8.onnx").write_bytes(b"not a protobuf at all")
    with caplog.at_level(logging.WARNING, logger="ml_core.serving.onnx_backend"):
        predictor = ClassifierPredictor.load(folder)
    assert predictor.backend.name == "torch"
    assert "ONNX Runtime cannot load" in caplog.text and "serving PyTorch instead" in caplog.text
    assert predictor.predict_one("great win").label in predictor.labels


def test_serving_json_that_names_pytorch_or_a_missing_file_is_obeyed(int8_classifier, tmp_path):
    folder = _copy(int8_classifier, tmp_path)
    serving = json.loads((folder / "serving.json").read_text())
    (folder / "serving.json").write_text(json.dumps({**serving, "backend": "torch", "reason": "rolled back"}))
    assert ClassifierPredictor.load(folder).backend.fallback_reason == "serving.json names PyTorch (rolled back)"
    (folder / "serving.json").write_text(json.dumps({**serving, "file": "model.gone.onnx"}))
    assert "missing" in ClassifierPredictor.load(folder).backend.fallback_reason
    with pytest.raises(Exception, match="has no ONNX artifact|names PyTorch|missing"):
        OnnxLogitsBackend(folder)


@pytest.mark.parametrize(("value", "expected"), [(None, "0"), ("false", "0"), ("true", "1"), ("1", "1")])
def test_idle_threads_sleep_unless_spinning_is_asked_for(int8_classifier, monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("ML_ONNX_SPINNING", raising=False)
    else:
        monkeypatch.setenv("ML_ONNX_SPINNING", value)
    backend = OnnxLogitsBackend(int8_classifier, threads=2)
    options = backend.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == expected


def test_a_spinning_setting_that_is_not_a_yes_or_no_is_refused_by_name(int8_classifier, monkeypatch):
    from ml_core.errors import UserError

    monkeypatch.setenv("ML_ONNX_SPINNING", "sometimes")
    with pytest.raises(UserError, match="ML_ONNX_SPINNING='sometimes' must be true or false") as raised:
        ClassifierPredictor.load(int8_classifier)  # not a quiet fall-back to PyTorch
    assert "cannot load" not in str(raised.value)
