"""int8 quantization with ONNX Runtime: dynamic (weights only) and static (calibrated activations).

Dynamic: weights are int8 per output channel (per-channel halves the error of one scale per
matrix), activations are quantized on the fly from each batch's own range. It starts from the
fused graph (Attention, EmbedLayerNormalization...), so the embedding table is int8 too; that
table is half of MiniLM's parameters, and without it the file stays at ~60% of fp32.

Dynamic with the feed-forward outputs in fp32 ("int8-mixed"): the same, except the second
matrix product of each layer's feed-forward block (BERT's `output.dense`), which stays fp32. Its
input, the GELU output, has the few very large activations that make one int8 range per tensor
too coarse for the rest (Bondarenko et al., "Understanding and Overcoming the Challenges of
Efficient Transformer Quantization", 2021); on fine-tuned MiniLM-L6 PhraseBank models dynamic
int8 lost 0.8 to 1.0 accuracy points and this variant 0.0, for about 15-25 % less throughput
than all-int8 (a third of the matrix work stays fp32). It is one more variant for the guardrail.

Static: activation ranges are calibrated beforehand on a sample of the training texts and
stored in the graph as QuantizeLinear/DequantizeLinear pairs (QDQ), which ONNX Runtime fuses
into integer kernels when it loads the model. It starts from the plain (unfused) graph, which
is what the static quantizer understands. Only the matrix products and the embedding lookup
are quantized: with every op in int8 (Softmax, GELU, the residual Adds, whose activations
have outliers that a calibrated range clips), Banking77 fell from 93% to 37% accuracy; with
MatMul and Gather only, it keeps about what dynamic int8 keeps. The classification head and
the pooling stay fp32.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

from ..errors import UserError

log = logging.getLogger(__name__)

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


class QuantizationError(UserError):
    """A graph could not be quantized."""


class _OnlyErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@contextmanager
def _quiet_root_logger():
    """The quantizer logs every tensor at INFO (and hints at WARNING) on the root logger itself.

    A filter on the root logger sees only records logged on it directly, so the messages of
    named loggers (ml_core.*, the job's log) pass untouched.
    """
    root = logging.getLogger()
    only_errors = _OnlyErrors()
    root.addFilter(only_errors)
    try:
        yield
    finally:
        root.removeFilter(only_errors)


def feed_forward_outputs(source: Path | str) -> list[str]:
    """Names of the feed-forward output products (`.../layer.N/output/dense/MatMul`, not the
    attention's own `attention/output/dense`) of an exported BERT-style graph."""
    graph = onnx.load(str(source), load_external_data=False).graph
    return [node.name for node in graph.node if node.op_type == "MatMul"
            and node.name.endswith("/output/dense/MatMul") and "/attention/" not in node.name]


def quantize_dynamic_int8(source: Path | str, target: Path | str, *, per_channel: bool = True,
                          keep_fp32: Sequence[str] = ()) -> Path:
    """Dynamic int8 of a fused graph; the nodes named in `keep_fp32` stay fp32."""
    try:
        with _quiet_root_logger():
            quantize_dynamic(str(source), str(target), per_channel=per_channel, weight_type=QuantType.QInt8,
                             nodes_to_exclude=list(keep_fp32),
                             # fused contrib ops have no inferred output types; they are float
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    except Exception as exc:
        Path(target).unlink(missing_ok=True)
        raise QuantizationError(f"dynamic int8 quantization of {source} failed: {type(exc).__name__}: {exc}") from exc
    log.info("dynamic int8: %s (%.1f MB)", target, Path(target).stat().st_size / 2**20)
    return Path(target)


class _TextCalibrationReader(CalibrationDataReader):
    """Feeds tokenized batches of calibration texts to the static quantizer."""

    def __init__(self, tokenizer, texts: Sequence[str], max_length: int, batch_size: int,
                 fixed_shape: bool = False) -> None:
        self._batches = []
        padding = "max_length" if fixed_shape else True  # histogram calibrators need one shape
        for start in range(0, len(texts), batch_size):
            encoded = tokenizer(list(texts[start : start + batch_size]), padding=padding, truncation=True,
                                max_length=max_length, return_tensors="np")
            self._batches.append({"input_ids": encoded["input_ids"].astype(np.int64),
                                  "attention_mask": encoded["attention_mask"].astype(np.int64)})
        self._iterator = iter(self._batches)

    def get_next(self):
        return next(self._iterator, None)

    def rewind(self) -> None:
        self._iterator = iter(self._batches)


def quantize_static_int8(source: Path | str, target: Path | str, *, tokenizer, texts: Sequence[str],
                         max_length: int, per_channel: bool = True, method: str = "minmax",
                         batch_size: int = 16, quantized_prefixes: Sequence[str] = ("/encoder/",),
                         op_types: Sequence[str] = ("MatMul", "Gather")) -> Path:
    """Static int8 (QDQ) of an unfused graph, activation ranges calibrated on `texts`.

    Only nodes whose names start with one of `quantized_prefixes` are quantized; the rest stay fp32: by
    default everything outside the encoder (pooling, normalisation, the head), where int8 buys
    no speed and costs accuracy.
    """
    if method not in CALIBRATION_METHODS:
        raise QuantizationError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, not {method!r}")
    texts = [t for t in texts if t]
    if not texts:
        raise QuantizationError("static quantization needs calibration texts (a sample of the training texts)")
    graph = onnx.load(str(source), load_external_data=False).graph
    excluded = [node.name for node in graph.node if not node.name.startswith(tuple(quantized_prefixes))]
    reader = _TextCalibrationReader(tokenizer, texts, max_length, batch_size, fixed_shape=method != "minmax")
    calibrate_method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                        "entropy": CalibrationMethod.Entropy}[method]
    try:
        with _quiet_root_logger():
            quantize_static(str(source), str(target), reader, quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                            calibrate_method=calibrate_method, nodes_to_exclude=excluded,
                            op_types_to_quantize=list(op_types),
                            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    except Exception as exc:
        Path(target).unlink(missing_ok=True)
        raise QuantizationError(f"static int8 quantization of {source} failed: {type(exc).__name__}: {exc}") from exc
    log.info("static int8 (%s, %d calibration texts): %s (%.1f MB)", method, len(texts), target,
             Path(target).stat().st_size / 2**20)
    return Path(target)
