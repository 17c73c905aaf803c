"""Serve classifiers and sentence encoders with ONNX Runtime on the CPU.

A compressed classifier folder carries `serving.json`, written when a variant passed the
accuracy guardrail (ml_core.compression): which ONNX file to serve and its sha256. The `auto`
backend, `ClassifierPredictor.load`'s default, serves that file, and falls back to the PyTorch
network, logging why, when the folder has no ONNX artifact, when serving.json names PyTorch,
when the file is missing or does not match its sha256, or when ONNX Runtime cannot load it.

Threads are set explicitly: `threads`, else ML_ONNX_THREADS, else ML_CPU_THREADS, else every
core. One inter-op thread: a transformer's graph is a chain, parallelism is inside the ops.
Idle intra-op threads sleep instead of spinning unless ML_ONNX_SPINNING is true: on a small CPU
shared with the web server and the database, spinning threads burn a core the other processes need
(on the 2-core machine, scoring with a busy neighbour ran 205 against 162-184 documents/s, and
idle it cost 20-25 % more CPU for the same speed).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..progress import ProgressCallback, no_progress
from ..training.model import (
    TOKENIZER_DIR,
    ModelLoadError,
    batched_forward,
    load_tokenizer,
    read_artifact_config,
    tokenize,
)
from .predictor import LogitsBackend, TorchLogitsBackend, register_backend

log = logging.getLogger(__name__)

SERVING_FILE = "serving.json"
# Written by ml_core.compression.export_sentence_encoder.
ENCODER_CONFIG = "sentence_encoder.json"
# Looked for, in this order, in a folder without serving.json.
ONNX_FILES = ("model.int8.onnx", "model.int8-static.onnx", "model.onnx")
THREAD_VARIABLES = ("ML_ONNX_THREADS", "ML_CPU_THREADS")
SPINNING_VARIABLE = "ML_ONNX_SPINNING"


def serving_threads(threads: int | None = None) -> int:
    """The intra-op thread count: explicit, else ML_ONNX_THREADS / ML_CPU_THREADS, else all cores."""
    if threads and threads > 0:
        return int(threads)
    for name in THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            try:
                if int(value) > 0:
                    return int(value)
            except ValueError:
                raise UserError(f"{name}={value!r} is not a whole number of threads") from None
    return os.cpu_count() or 1


def onnx_spinning() -> bool:
    """Whether idle intra-op threads spin (ML_ONNX_SPINNING; default false: they sleep)."""
    value = os.environ.get(SPINNING_VARIABLE, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise UserError(f"{SPINNING_VARIABLE}={value!r} must be true or false")


def onnx_session(path: Path | str, threads: int | None = None):
    """An ONNX Runtime CPU session with every graph optimisation and an explicit thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = serving_threads(threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if onnx_spinning() else "0")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only; load failures raise anyway
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_serving(folder: Path | str) -> dict[str, Any] | None:
    path = Path(folder) / SERVING_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("backend") not in ("onnx", "torch"):
        raise ModelLoadError(f"{path} must name a backend, onnx or torch")
    return data


def promoted_onnx(folder: Path | str) -> tuple[Path | None, str]:
    """(the ONNX file to serve, why) or (None, why PyTorch serves instead)."""
    folder = Path(folder)
    try:
        serving = read_serving(folder)
    except ModelLoadError as exc:
        return None, str(exc)
    if serving is None:
        for name in ONNX_FILES:
            if (folder / name).is_file():
                return folder / name, f"{name} found (no {SERVING_FILE})"
        return None, "the folder has no ONNX artifact"
    if serving["backend"] == "torch":
        return None, f"{SERVING_FILE} names PyTorch ({serving.get('reason') or 'no ONNX variant was promoted'})"
    name = str(serving.get("file") or "")
    path = folder / name
    if not name or Path(name).name != name or not path.is_file():
        return None, f"{SERVING_FILE} names {name!r}, which is missing"
    expected = serving.get("sha256")
    if expected and file_sha256(path) != expected:
        return None, f"{name} does not match the sha256 in {SERVING_FILE}: it is corrupt or was altered"
    return path, f"{name} promoted ({serving.get('variant', 'onnx')})"


def session_function(session):
    """fn(input_ids, attention_mask) -> logits tensor, for ml_core.training.model.batched_forward."""
    import torch

    output_name = session.get_outputs()[0].name

    def run(input_ids, attention_mask):
        feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return torch.from_numpy(session.run([output_name], feeds)[0])

    return run


def onnx_outputs(session, tokenizer, texts: Sequence[str], max_length: int, batch_size: int = 32) -> np.ndarray:
    """Run a session over texts in length-sorted, padded batches (rows in input order)."""
    sequences = tokenize(tokenizer, list(texts), max_length)
    return batched_forward(session_function(session), sequences, pad_id=tokenizer.pad_token_id or 0,
                           batch_size=batch_size, device="cpu")


class OnnxLogitsBackend:
    """A classifier's ONNX graph in ONNX Runtime: the same logits contract as the PyTorch backend."""

    name = "onnx"

    def __init__(self, folder: Path | str, device: str = "cpu", batch_size: int = 64, *,
                 file: Path | str | None = None, threads: int | None = None) -> None:
        folder = Path(folder)
        if device not in ("cpu", "auto"):
            raise ModelLoadError(f"the ONNX backend runs on the CPU, not {device!r}")
        self.config = read_artifact_config(folder)
        if file is None:
            file, reason = promoted_onnx(folder)
            if file is None:
                raise ModelLoadError(f"{folder}: {reason}")
        self.path = Path(file)
        self.threads = serving_threads(threads)
        onnx_spinning()  # a bad setting is for the operator to fix, not a reason to fall back to PyTorch
        try:
            self.session = onnx_session(self.path, self.threads)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelLoadError(f"ONNX Runtime cannot load {self.path}: {type(exc).__name__}: {exc}") from exc
        outputs = self.session.get_outputs()[0].shape
        if isinstance(outputs[-1], int) and outputs[-1] != len(self.config.labels):
            raise ModelLoadError(f"{self.path} gives {outputs[-1]} logits, the artifact has {len(self.config.labels)} labels")
        self.tokenizer = load_tokenizer(folder / TOKENIZER_DIR)
        self.batch_size = batch_size
        self.pad_id = self.tokenizer.pad_token_id or 0
        self.device = "cpu"
        self.fallback_reason = ""
        self._run = session_function(self.session)

    def logits(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        sequences = tokenize(self.tokenizer, list(texts), self.config.max_length)
        return batched_forward(self._run, sequences, pad_id=self.pad_id, batch_size=self.batch_size,
                               device="cpu", progress=progress)


def auto_backend(folder: Path | str, device: str = "cpu", batch_size: int = 64,
                 threads: int | None = None) -> LogitsBackend:
    """The promoted ONNX variant on the CPU when there is a sound one; the PyTorch network otherwise."""
    from ..backbone import select_device

    folder = Path(folder)
    resolved = select_device(device).device
    if resolved != "cpu":
        reason = f"device {resolved}: ONNX Runtime serves on the CPU here"
    else:
        path, reason = promoted_onnx(folder)
        if path is not None:
            try:
                backend = OnnxLogitsBackend(folder, device="cpu", batch_size=batch_size, file=path, threads=threads)
            except ModelLoadError as exc:
                reason = str(exc)
                log.warning("%s: %s; serving PyTorch instead", folder, reason)
            else:
                log.info("%s: serving %s with ONNX Runtime (%d threads)", folder, path.name, backend.threads)
                return backend
        else:
            log.info("%s: serving PyTorch: %s", folder, reason)
    torch_backend = TorchLogitsBackend(folder, device=device, batch_size=batch_size)
    torch_backend.fallback_reason = reason
    return torch_backend


register_backend("onnx", OnnxLogitsBackend)
register_backend("auto", auto_backend)


class OnnxSentenceEncoder:
    """A sentence encoder exported by ml_core.compression.export_sentence_encoder, on ONNX Runtime.

    `encode` takes the arguments ml_core.backbone.encode_texts passes to sentence-transformers
    and returns the same float32 embeddings (pooling and normalisation are in the graph).
    """

    def __init__(self, folder: Path | str, *, variant: str = "fp32", threads: int | None = None) -> None:
        self.folder = Path(folder)
        config_path = self.folder / ENCODER_CONFIG
        if not config_path.is_file():
            raise ModelLoadError(f"{self.folder} is not an exported sentence encoder: it has no {ENCODER_CONFIG}")
        self.info = json.loads(config_path.read_text())
        files = self.info.get("files", {})
        if variant not in files:
            raise ModelLoadError(f"{self.folder} has no {variant!r} encoder (it has {', '.join(sorted(files))})")
        self.variant = variant
        self.max_seq_length = int(self.info["max_seq_length"])
        self.threads = serving_threads(threads)
        onnx_spinning()  # a bad setting is for the operator to fix, not a load failure
        try:
            self.session = onnx_session(self.folder / files[variant], self.threads)
        except Exception as exc:
            raise ModelLoadError(f"ONNX Runtime cannot load {self.folder / files[variant]}: {exc}") from exc
        self.tokenizer = load_tokenizer(self.folder / "tokenizer")
        self.pad_id = self.tokenizer.pad_token_id or 0
        self._run = session_function(self.session)

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.info["dimension"])

    def encode(self, sentences: str | Sequence[str], batch_size: int = 32, show_progress_bar: bool = False,
               convert_to_numpy: bool = True, normalize_embeddings: bool = False,
               progress: ProgressCallback = no_progress, **_: Any) -> np.ndarray:
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        if not texts:
            return np.zeros((0, self.get_sentence_embedding_dimension()), dtype=np.float32)
        sequences = tokenize(self.tokenizer, texts, self.max_seq_length)
        vectors = batched_forward(self._run, sequences, pad_id=self.pad_id, batch_size=max(1, batch_size),
                                  device="cpu", progress=progress).astype(np.float32, copy=False)
        if normalize_embeddings:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors[0] if single else vectors
