"""Export a classifier or a sentence encoder to ONNX, and accept it only if it matches PyTorch.

The graph has dynamic batch and sequence axes (inputs `input_ids`, `attention_mask`, int64).
Attention is exported in its eager form so that ONNX Runtime's transformer optimizer can fuse
it (EmbedLayerNormalization, Attention, SkipLayerNormalization, BiasGelu): the fused graph is
what int8 quantization starts from and what runs fastest on a CPU. The export is verified on
real texts, in batches of mixed lengths (so padding and both dynamic axes are exercised): the
largest absolute difference of the outputs and the agreement of the argmax must stay within
bounds, or `ExportError` says by how much they did not.
"""
from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..progress import ProgressCallback, no_progress
from ..serving.onnx_backend import ENCODER_CONFIG, onnx_outputs, onnx_session

log = logging.getLogger(__name__)

ONNX_OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask")
# Model types ONNX Runtime's transformer optimizer knows how to fuse (others are exported unfused).
_OPTIMIZER_MODEL_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert",
                          "camembert": "bert", "electra": "bert", "mpnet": "bert"}
# Edge cases every parity check includes besides the caller's texts.
_EDGE_TEXTS = ("a", "?", "ok " * 300)

ENCODER_FP32 = "encoder.onnx"
ENCODER_INT8 = "encoder.int8.onnx"


class ExportError(UserError):
    """The ONNX graph could not be written, or it does not compute what the PyTorch model does."""


@dataclass
class ParityCheck:
    """How closely an ONNX graph reproduces a reference (PyTorch, or the fp32 graph)."""

    n_texts: int
    max_abs_diff: float
    argmax_agreement: float
    tolerance: float | None  # None: not bounded (quantized graphs are judged by accuracy)
    min_agreement: float
    cosine_min: float | None = None  # for embeddings

    @property
    def passed(self) -> bool:
        within = self.tolerance is None or self.max_abs_diff <= self.tolerance
        return within and self.argmax_agreement >= self.min_agreement

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def describe(self) -> str:
        bound = f" (allowed {self.tolerance:g})" if self.tolerance is not None else ""
        return (f"max |difference| {self.max_abs_diff:.3g}{bound}, argmax agreement "
                f"{self.argmax_agreement:.4f} (required {self.min_agreement:.4f}) on {self.n_texts} texts")


def compare_outputs(reference: np.ndarray, candidate: np.ndarray, *, tolerance: float | None,
                    min_agreement: float, cosine: bool = False) -> ParityCheck:
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ExportError(f"ONNX output shape {candidate.shape} differs from PyTorch's {reference.shape}")
    cosine_min = None
    if cosine:
        norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
        cosine_min = float(((reference * candidate).sum(1) / np.maximum(norms, 1e-12)).min()) if len(reference) else 1.0
    return ParityCheck(
        n_texts=len(reference),
        max_abs_diff=float(np.abs(reference - candidate).max()) if reference.size else 0.0,
        argmax_agreement=float((reference.argmax(1) == candidate.argmax(1)).mean()) if len(reference) else 1.0,
        tolerance=tolerance, min_agreement=min_agreement, cosine_min=cosine_min,
    )


def parity_texts(texts: Sequence[str], limit: int = 256) -> list[str]:
    """The caller's texts (up to `limit`) plus edge cases: one token, punctuation, longer than max."""
    return [t for t in list(texts)[:limit] if t] + list(_EDGE_TEXTS)


def use_eager_attention(model) -> None:
    """Eager attention exports as plain MatMul/Softmax, which ONNX Runtime fuses into Attention."""
    setter = getattr(model, "set_attn_implementation", None)
    if setter is not None:
        setter("eager")
    else:  # pragma: no cover - older transformers
        model.config._attn_implementation = "eager"


def _export_graph(module, path: Path, output_name: str, example: tuple) -> None:
    import torch

    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns about Python bools in transformers' mask code; they hold for every shape.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, example, str(path), dynamo=False, opset_version=ONNX_OPSET,
            input_names=list(INPUT_NAMES), output_names=[output_name],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          output_name: {0: "batch"}},
        )


def optimize_for_cpu(path: Path, encoder_config) -> dict[str, int]:
    """Fuse the transformer's subgraphs in place (ONNX Runtime's optimizer); {} when the type is unknown."""
    model_type = _OPTIMIZER_MODEL_TYPES.get(getattr(encoder_config, "model_type", ""))
    if model_type is None:
        log.info("no ONNX Runtime fusions for model type %r: keeping the plain graph",
                 getattr(encoder_config, "model_type", None))
        return {}
    from onnxruntime.transformers.optimizer import optimize_model

    optimizer_log = logging.getLogger("onnxruntime.transformers")
    level = optimizer_log.level
    optimizer_log.setLevel(logging.WARNING)
    try:
        optimized = optimize_model(str(path), model_type=model_type, num_heads=encoder_config.num_attention_heads,
                                   hidden_size=encoder_config.hidden_size)
    finally:
        optimizer_log.setLevel(level)
    fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    optimized.save_model_to_file(str(path))
    return fused


def _example_inputs(tokenizer, max_length: int):
    batch = tokenizer(["an example to trace", "two"], padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def _embedding_module(classifier):
    """The sentence embedding of a TextClassifier (pooling, normalisation) as its own module."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.classifier = classifier

        def forward(self, input_ids, attention_mask):
            return self.classifier.embed(input_ids, attention_mask)

    return SentenceEmbedding()


def _torch_outputs(fn, tokenizer, texts: list[str], max_length: int, batch_size: int = 32) -> np.ndarray:
    from ..training.model import batched_forward, tokenize

    sequences = tokenize(tokenizer, texts, max_length)
    return batched_forward(fn, sequences, pad_id=tokenizer.pad_token_id or 0, batch_size=batch_size, device="cpu")


class ClassifierExporter:
    """Exports one classifier artifact and checks ONNX graphs against its PyTorch logits.

    The PyTorch reference logits on the parity texts are computed once, when it is made.
    """

    def __init__(self, model_dir: Path | str, verify_texts: Sequence[str], *, threads: int | None = None) -> None:
        from ..training.model import load_classifier

        self.model_dir = Path(model_dir)
        self.threads = threads
        self.model, self.tokenizer, self.config = load_classifier(self.model_dir, device="cpu")
        self.texts = parity_texts(verify_texts)
        self.reference = _torch_outputs(self.model, self.tokenizer, self.texts, self.config.max_length)

    @property
    def encoder_config(self):
        return self.model.encoder.config

    def export(self, path: Path | str, *, optimize: bool = True, tolerance: float = 1e-3,
               min_agreement: float = 0.999) -> ParityCheck:
        """Write the fp32 graph (logits) to `path`; raise ExportError (and remove it) if it differs."""
        path = Path(path)
        use_eager_attention(self.model.encoder)
        try:
            _export_graph(self.model, path, "logits", _example_inputs(self.tokenizer, self.config.max_length))
            fused = optimize_for_cpu(path, self.encoder_config) if optimize else {}
        except Exception as exc:
            path.unlink(missing_ok=True)
            raise ExportError(f"ONNX export of {self.model_dir} failed: {type(exc).__name__}: {exc}") from exc
        log.info("exported %s to %s (%.1f MB; fused %s)", self.model_dir, path, path.stat().st_size / 2**20, fused)
        return self.verify(path, tolerance=tolerance, min_agreement=min_agreement)

    def optimized_copy(self, source: Path | str, target: Path | str, *, tolerance: float = 1e-3,
                       min_agreement: float = 0.999) -> ParityCheck:
        """Copy a plain graph and fuse it for the CPU, verified like an export."""
        shutil.copyfile(source, target)
        optimize_for_cpu(Path(target), self.encoder_config)
        return self.verify(target, tolerance=tolerance, min_agreement=min_agreement)

    def verify(self, path: Path | str, *, tolerance: float = 1e-3, min_agreement: float = 0.999) -> ParityCheck:
        check = self.compare(path, tolerance=tolerance, min_agreement=min_agreement)
        if not check.passed:
            Path(path).unlink(missing_ok=True)
            raise ExportError(f"the ONNX export of {self.model_dir} does not match PyTorch: {check.describe()}")
        return check

    def compare(self, path: Path | str, *, tolerance: float | None = None, min_agreement: float = 0.0) -> ParityCheck:
        """How closely the graph at `path` reproduces the PyTorch logits (no bound enforced)."""
        outputs = onnx_outputs(onnx_session(path, self.threads), self.tokenizer, self.texts, self.config.max_length)
        return compare_outputs(self.reference, outputs, tolerance=tolerance, min_agreement=min_agreement)


def export_classifier(model_dir: Path | str, out_path: Path | str, *, verify_texts: Sequence[str],
                      optimize: bool = True, tolerance: float = 1e-3, min_agreement: float = 0.999,
                      threads: int | None = None) -> ParityCheck:
    """Write the classifier in `model_dir` as an fp32 ONNX graph (logits), verified against PyTorch.

    Raises ExportError (and removes the file) when the graph's logits differ from PyTorch's by
    more than `tolerance` or their argmax agrees on less than `min_agreement` of the texts.
    """
    exporter = ClassifierExporter(model_dir, verify_texts, threads=threads)
    return exporter.export(out_path, optimize=optimize, tolerance=tolerance, min_agreement=min_agreement)


def export_sentence_encoder(source: str | None, out_dir: Path | str, *, verify_texts: Sequence[str] = (),
                            quantize: bool = True, tolerance: float = 1e-4, threads: int | None = None,
                            progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Export a sentence-transformers encoder (pooling and normalisation in the graph) to `out_dir`.

    Writes encoder.onnx (fp32, verified against PyTorch within `tolerance`), encoder.int8.onnx
    (dynamic int8, per-channel; its cosine to fp32 is recorded), tokenizer/ and
    sentence_encoder.json. Returns what sentence_encoder.json holds. Use
    ml_core.serving.onnx_backend.OnnxSentenceEncoder to load it.
    """
    from ..backbone import resolve_backbone
    from ..training.model import TextClassifier, backbone_pooling, load_encoder, load_tokenizer
    from .quantize import quantize_dynamic_int8

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = resolve_backbone(source)
    pooling, normalize = backbone_pooling(folder)
    max_length = _sentence_max_length(folder)
    progress(0.0, f"loading {source or 'the default encoder'}")
    encoder = load_encoder(folder)
    tokenizer = load_tokenizer(folder)
    model = TextClassifier(encoder, 1, pooling=pooling, normalize=normalize, dropout=0.0).eval()
    graph = _embedding_module(model)
    texts = parity_texts(verify_texts or _DEFAULT_VERIFY_TEXTS)
    reference = _torch_outputs(model.embed, tokenizer, texts, max_length)
    use_eager_attention(encoder)
    progress(20.0, "exporting to ONNX")
    fp32_path = out_dir / ENCODER_FP32
    try:
        _export_graph(graph, fp32_path, "sentence_embedding", _example_inputs(tokenizer, max_length))
        fused = optimize_for_cpu(fp32_path, encoder.config)
    except Exception as exc:
        fp32_path.unlink(missing_ok=True)
        raise ExportError(f"ONNX export of {folder} failed: {type(exc).__name__}: {exc}") from exc
    progress(60.0, "verifying against PyTorch")
    fp32 = onnx_outputs(onnx_session(fp32_path, threads), tokenizer, texts, max_length)
    check = compare_outputs(reference, fp32, tolerance=tolerance, min_agreement=0.0, cosine=True)
    if not check.passed:
        fp32_path.unlink(missing_ok=True)
        raise ExportError(f"the ONNX export of {folder} does not match PyTorch: {check.describe()}")
    tokenizer.save_pretrained(out_dir / "tokenizer")
    info: dict[str, Any] = {
        "format": "ml_core.onnx_sentence_encoder", "source": str(source or ""), "folder": folder,
        "pooling": pooling, "normalize": normalize, "max_seq_length": max_length,
        "dimension": int(reference.shape[1]), "opset": ONNX_OPSET, "fused": fused,
        "files": {"fp32": ENCODER_FP32}, "parity": {"fp32": check.to_dict()},
    }
    if quantize:
        progress(75.0, "quantizing to int8")
        quantize_dynamic_int8(fp32_path, out_dir / ENCODER_INT8)
        int8 = onnx_outputs(onnx_session(out_dir / ENCODER_INT8, threads), tokenizer, texts, max_length)
        info["files"]["int8"] = ENCODER_INT8
        info["parity"]["int8"] = compare_outputs(reference, int8, tolerance=None, min_agreement=0.0,
                                                 cosine=True).to_dict()
    (out_dir / ENCODER_CONFIG).write_text(json.dumps(info, indent=2, sort_keys=True))
    progress(100.0, "sentence encoder exported")
    return info


def _sentence_max_length(folder: str) -> int:
    config = Path(folder) / "sentence_bert_config.json"
    if config.is_file():
        try:
            return int(json.loads(config.read_text()).get("max_seq_length") or 256)
        except ValueError:
            pass
    return 256


def copy_tree_linked(source: Path, target: Path, *, skip: Sequence[str] = ()) -> None:
    """Copy a folder, hard-linking files where the file system allows (artifacts are immutable)."""
    for path in sorted(Path(source).rglob("*")):
        rel = path.relative_to(source)
        if rel.parts and rel.parts[0] in skip:
            continue
        destination = Path(target) / rel
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            destination.hardlink_to(path)
        except OSError:
            shutil.copy2(path, destination)


_DEFAULT_VERIFY_TEXTS = (
    "How do I reset my card PIN?", "The company's quarterly profit rose by 12 percent.",
    "Where is my refund?", "Shares fell sharply after the announcement.", "I love this phone",
    "Please cancel the transfer I made yesterday to my landlord because the amount was wrong.",
)
