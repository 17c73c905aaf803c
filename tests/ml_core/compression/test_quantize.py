"""int8 quantization: smaller files that still agree with the fp32 model."""
import pytest

from ml_core.compression import ClassifierExporter, quantize_dynamic_int8, quantize_static_int8
from ml_core.compression.quantize import QuantizationError

AGREEMENT = 0.95  # share of texts whose predicted label the int8 graph keeps


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_classifier, toy_splits):
    _, valid = toy_splits
    folder = tmp_path_factory.mktemp("quantize")
    exporter = ClassifierExporter(tiny_classifier, valid.texts)
    exporter.export(folder / "plain.onnx", optimize=False)
    exporter.optimized_copy(folder / "plain.onnx", folder / "fused.onnx")
    return exporter, folder


def test_dynamic_int8_per_channel_agrees_and_is_a_quarter_of_the_size(exported):
    exporter, folder = exported
    path = quantize_dynamic_int8(folder / "fused.onnx", folder / "int8.onnx")
    check = exporter.compare(path)
    assert check.argmax_agreement >= AGREEMENT, check.describe()
    # The embedding table is quantized too, so the whole file shrinks about 4x.
    assert path.stat().st_size < 0.3 * (folder / "fused.onnx").stat().st_size


def test_static_int8_calibrated_on_training_texts_agrees(exported, toy_splits):
    exporter, folder = exported
    train, _ = toy_splits
    path = quantize_static_int8(folder / "plain.onnx", folder / "static.onnx", tokenizer=exporter.tokenizer,
                                texts=train.texts[:32], max_length=32)
    check = exporter.compare(path)
    assert check.argmax_agreement >= AGREEMENT, check.describe()
    assert path.stat().st_size < 0.35 * (folder / "plain.onnx").stat().st_size

    with pytest.raises(QuantizationError, match="needs calibration texts"):
        quantize_static_int8(folder / "plain.onnx", folder / "none.onnx", tokenizer=exporter.tokenizer,
                             texts=[], max_length=32)
    with pytest.raises(QuantizationError, match="calibration method"):
        quantize_static_int8(folder / "plain.onnx", folder / "none.onnx", tokenizer=exporter.tokenizer,
                             texts=["x"], max_length=32, method="median")
