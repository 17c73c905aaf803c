"""One sentence encoder per process, shared by every app that embeds text."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from django.conf import settings

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
