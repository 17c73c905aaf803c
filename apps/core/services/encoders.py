"""One sentence encoder per process, shared by every app that embeds text.

Where an app only embeds (retrieval, topic matching), a setting may put the same encoder on ONNX
Runtime instead (`configured_encoder`): "torch" (sentence-transformers), "onnx" (the same vectors
within 1e-5) or "onnx-int8" (2-3x faster on CPU, cosine about 0.99 to torch's vectors).
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ml_core.backbone import load_sentence_encoder, select_device
from ml_core.progress import ProgressCallback, no_progress

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

_encoders: dict[str, SentenceTransformer] = {}
_lock = threading.Lock()


def shared_encoder(name: str | None = None) -> SentenceTransformer:
    """The configured encoder (ML_BACKBONE), loaded once per process on ML_DEVICE."""
    name = name or settings.ML_BACKBONE
    encoder = _encoders.get(name)
    if encoder is None:
        with _lock:
            encoder = _encoders.get(name)
            if encoder is None:
                device = select_device(settings.ML_DEVICE, settings.ML_CPU_THREADS)
                encoder = _encoders[name] = load_sentence_encoder(name, device)
    return encoder


# --- the same encoder on ONNX Runtime ---------------------------------------------------------
ENCODERS_DIR = "onnx-encoders"  # under ARTIFACTS_ROOT
_onnx_encoders: dict[tuple[str, str], Any] = {}
_onnx_lock = threading.Lock()


def shared_onnx_encoder(name: str | None = None, *, variant: str = "fp32", threads: int | None = None):
    """The configured encoder (ML_BACKBONE) on ONNX Runtime, exported once and shared per process.

    A drop-in for services.encoders.shared_encoder() wherever texts are only embedded (not
    fine-tuned): same `encode(...)`, same vectors within 1e-5 for "fp32"; "int8" is smaller and
    faster, with a cosine of about 0.99 to them (recorded in sentence_encoder.json). The export
    is written once under ARTIFACTS_ROOT/onnx-encoders/ (atomically; any process may do it).
    """
    import hashlib

    from ml_core.artifacts import ArtifactError, atomic_directory
    from ml_core.backbone import resolve_backbone
    from ml_core.compression import export_sentence_encoder
    from ml_core.serving import OnnxSentenceEncoder

    name = name or settings.ML_BACKBONE
    threads = threads or settings.ML_CPU_THREADS or None  # None: ONNX Runtime's default
    key = (name, variant, threads)
    encoder = _onnx_encoders.get(key)
    if encoder is not None:
        return encoder
    with _onnx_lock:
        encoder = _onnx_encoders.get(key)
        if encoder is None:
            source = resolve_backbone(name)
            slug = hashlib.sha256(source.encode()).hexdigest()[:12]
            folder = Path(settings.ARTIFACTS_ROOT) / ENCODERS_DIR / f"{Path(source).name}-{slug}"
            if not folder.is_dir():
                try:
                    with atomic_directory(folder) as partial:
                        export_sentence_encoder(name, partial)
                except ArtifactError:
                    if not folder.is_dir():  # not another process's finished export: a real error
                        raise
            encoder = _onnx_encoders[key] = OnnxSentenceEncoder(folder, variant=variant, threads=threads)
    return encoder


ENCODER_VARIANTS = {"torch": None, "onnx": "fp32", "onnx-int8": "int8"}


def encoder_choice(setting: str) -> str:
    """The encoder a setting names (torch, onnx or onnx-int8), or ImproperlyConfigured."""
    choice = str(getattr(settings, setting, "torch"))
    if choice not in ENCODER_VARIANTS:
        raise ImproperlyConfigured(f"{setting} must be one of {', '.join(ENCODER_VARIANTS)}, not {choice!r}")
    return choice


def configured_encoder(setting: str, *, threads: int | None = None):
    """The shared encoder on the runtime `setting` names, loaded once per process."""
    variant = ENCODER_VARIANTS[encoder_choice(setting)]
    if variant is None:
        return shared_encoder()
    return shared_onnx_encoder(variant=variant, threads=threads)


def embed(setting: str, texts: Sequence[str], *, batch_size: int = 64, threads: int | None = None,
          progress: ProgressCallback | None = None) -> np.ndarray:
    """Raw (not normalised) sentence embeddings, one row per text, from the shared encoder on the
    runtime `setting` names (e.g. CUSTOMER_SERVICE_ENCODER, FINANCE_TOPIC_ENCODER)."""
    from ml_core.backbone import encode_texts

    return encode_texts(configured_encoder(setting, threads=threads), list(texts), batch_size=batch_size,
                        progress=progress or no_progress, normalize=False)
