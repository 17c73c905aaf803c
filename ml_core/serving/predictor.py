"""A classifier predictor: loads an artifact once, batches inputs, calibrated probabilities.

The predictor owns the label list and the calibration temperature; a *logits backend* turns
texts into raw logits. `torch` (the default) runs the PyTorch network, LoRA adapters merged;
other backends (e.g. ONNX Runtime) register with `register_backend(name, factory)` and are
chosen with `ClassifierPredictor.load(folder, backend=name)`. One lock serialises calls to the
backend: tokenizers and sessions are not all safe to share between threads, and the web
process calls from many threads.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import UserError
from ..numeric import softmax
from ..progress import ProgressCallback
from ..training.model import ArtifactConfig, batched_forward, load_classifier, read_artifact_config, tokenize


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float  # calibrated probability of `label`
    probabilities: dict[str, float]
    top_k: list[tuple[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": self.confidence, "probabilities": self.probabilities,
                "top_k": [[label, p] for label, p in self.top_k]}


class LogitsBackend(Protocol):
    def logits(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Raw (uncalibrated) logits, one row per text, columns in the artifact's label order."""


class TorchLogitsBackend:
    """The PyTorch network of an artifact on one device (`model` is there for gradients)."""

    name = "torch"

    def __init__(self, folder: Path, device: str = "cpu", batch_size: int = 64, threads: int | None = None) -> None:
        # `threads` is accepted for the common factory signature and not used: PyTorch's intra-op
        # threads are set for the whole process (ML_CPU_THREADS, torch.set_num_threads).
        from ..backbone import select_device

        self.device_config = select_device(device)
        self.device = self.device_config.device
        self.model, self.tokenizer, self.config = load_classifier(folder, device=self.device)
        self.batch_size = batch_size
        self.pad_id = self.tokenizer.pad_token_id or 0

    def logits(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        sequences = tokenize(self.tokenizer, list(texts), self.config.max_length)
        return batched_forward(self.model, sequences, pad_id=self.pad_id, batch_size=self.batch_size,
                               device=self.device, autocast=self.device_config.autocast, progress=progress)


_BACKENDS: dict[str, Callable[..., LogitsBackend]] = {"torch": TorchLogitsBackend}


def register_backend(name: str, factory: Callable[..., LogitsBackend]) -> None:
    """`factory(folder, device=..., batch_size=...[, threads=...])` returns a LogitsBackend for an artifact."""
    _BACKENDS[name] = factory


def registered_backends() -> list[str]:
    return sorted(_BACKENDS)


class ClassifierPredictor:
    def __init__(self, backend: LogitsBackend, config: ArtifactConfig, folder: Path | None = None) -> None:
        self.backend = backend
        self.config = config
        self.folder = folder
        self.labels: list[str] = list(config.labels)
        self.temperature: float = float(config.temperature)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path | str, device: str = "cpu", *, backend: str = "auto",
             batch_size: int = 64, threads: int | None = None) -> ClassifierPredictor:
        """`auto` serves the folder's promoted ONNX variant, else PyTorch (ml_core.serving.onnx_backend).

        `threads`: ONNX Runtime's intra-op threads for this model (default ML_ONNX_THREADS /
        ML_CPU_THREADS, else every core); PyTorch's threads are the process's own."""
        folder = Path(folder)
        config = read_artifact_config(folder)  # a clear error before any heavy loading
        factory = _BACKENDS.get(backend)
        if factory is None:
            raise UserError(f"unknown predictor backend {backend!r} (known: {', '.join(registered_backends())})")
        options = {"threads": threads} if threads else {}
        return cls(factory(folder, device=device, batch_size=batch_size, **options), config, folder)

    @property
    def method(self) -> str:
        return self.config.method

    @property
    def base_model(self) -> str:
        return self.config.base_model

    def predict_logits(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Raw logits (before the calibration temperature)."""
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        with self._lock:
            return self.backend.logits(texts, progress)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, shape (len(texts), len(labels)), columns in `labels` order."""
        return softmax(self.predict_logits(texts), self.temperature)

    def predict(self, texts: Sequence[str], top_k: int = 3) -> list[Prediction]:
        probs = self.predict_proba(texts)
        k = max(1, min(int(top_k), len(self.labels)))
        predictions = []
        for row in probs:
            order = np.argsort(-row, kind="stable")[:k]
            predictions.append(Prediction(
                label=self.labels[order[0]], confidence=float(row[order[0]]),
                probabilities={label: float(p) for label, p in zip(self.labels, row)},
                top_k=[(self.labels[i], float(row[i])) for i in order],
            ))
        return predictions

    def predict_one(self, text: str, top_k: int = 3) -> Prediction:
        return self.predict([text], top_k=top_k)[0]


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise UserError("predict takes a list of texts, not one string (use predict_one)")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise UserError(f"text {i + 1} is {type(text).__name__}, not a string")
    return texts
