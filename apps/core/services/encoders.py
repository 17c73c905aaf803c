"""One sentence encoder per process, shared by every app that embeds text.

Where an app only embeds (retrieval, topic matching), a setting may put the same encoder on ONNX
Runtime instead (`configured_encoder`): "torch" (sentence-transformers), "onnx" (the same vectors
within 1e-5) or "onnx-int8" (2-3x faster on CPU, cosine about 0.99 to torch's vectors).
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ml_core.backbone import load_sentence_encoder, select_device

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

_encoders: dict[str, "SentenceTransformer"] = {}
_lock = threading.Lock()


def shared_encoder(name: str | None = None) -> "SentenceTransformer":
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
    from .compression import shared_onnx_encoder

    return shared_onnx_encoder(variant=variant, threads=threads)
