"""ONNX export: dynamic axes, parity with PyTorch checked before the graph is accepted."""
import numpy as np
import pytest

from ml_core.compression import ClassifierExporter, ExportError, export_sentence_encoder
from ml_core.serving import ClassifierPredictor
from ml_core.serving.onnx_backend import OnnxLogitsBackend, OnnxSentenceEncoder


def test_classifier_export_matches_pytorch_at_any_batch_and_length(tmp_path, tiny_classifier, toy_splits):
    _, valid = toy_splits
    exporter = ClassifierExporter(tiny_classifier, valid.texts)
    check = exporter.export(tmp_path / "model.onnx")
    assert check.passed and check.n_texts == len(valid) + 3  # plus the edge cases (one token, too long)
    assert check.max_abs_diff < 1e-4 and check.argmax_agreement == 1.0

    torch_predictor = ClassifierPredictor.load(tiny_classifier, backend="torch")
    onnx_backend = OnnxLogitsBackend(tiny_classifier, file=tmp_path / "model.onnx")
    # Batches of 1, 2 and 7 texts of different lengths: both axes are dynamic.
    for texts in (["great"], ["bad", "a much longer meeting report about monday " * 4], valid.texts[:7]):
        np.testing.assert_allclose(onnx_backend.logits(texts), torch_predictor.predict_logits(texts), atol=1e-4)

    fused = exporter.optimized_copy(tmp_path / "model.onnx", tmp_path / "fused.onnx")
    assert fused.passed and fused.max_abs_diff < 1e-4


def test_a_graph_that_differs_from_pytorch_is_refused_and_removed(tmp_path, tiny_classifier, toy_splits):
    _, valid = toy_splits
    exporter = ClassifierExporter(tiny_classifier, valid.texts[:10])
    exporter.export(tmp_path / "model.onnx")
    exporter.reference = exporter.reference + 0.5  # as if the graph computed something else
    with pytest.raises(ExportError, match=r"does not match PyTorch: max \|difference\| 0.5"):
        exporter.verify(tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_sentence_encoder_export_gives_the_sentence_transformers_embeddings(tmp_path, tiny_encoder_path):
    from ml_core.backbone import encode_texts, load_sentence_encoder, select_device

    texts = ["where is my card?", "profits rose", "a", "the meeting on monday " * 20]
    info = export_sentence_encoder(str(tiny_encoder_path), tmp_path / "enc", verify_texts=texts)
    assert info["parity"]["fp32"]["passed"] and info["dimension"] == 32

    reference = encode_texts(load_sentence_encoder(str(tiny_encoder_path), select_device("cpu")), texts, batch_size=3)
    fp32 = OnnxSentenceEncoder(tmp_path / "enc")
    got = encode_texts(fp32, texts, batch_size=3)  # the same call apps make with the PyTorch encoder
    assert got.shape == reference.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, reference, atol=1e-5)
    assert fp32.encode("one text").shape == (32,)

    int8 = OnnxSentenceEncoder(tmp_path / "enc", variant="int8")
    cosine = (int8.encode(texts, normalize_embeddings=True) * reference).sum(1)
    assert cosine.min() > 0.9
