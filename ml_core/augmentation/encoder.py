"""Sentence embeddings from the backbone encoder, for synonym neighbourhoods, the label filter,
near-duplicate checks and the attack's similarity constraint.

It uses the classifier code's own loader and pooling (ml_core.training.model), so it needs no
sentence-transformers import and embeds exactly as the classifier's frozen features do. One
embedder per (backbone, device) is kept per process.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..progress import ProgressCallback, no_progress


class TextEmbedder:
    """L2-normalised sentence embeddings of the backbone (pooling as the backbone was trained)."""

    def __init__(self, backbone: str | None = None, device: str = "cpu", batch_size: int = 128,
                 max_length: int = 128) -> None:
        import torch

        from ..backbone import resolve_backbone
        from ..training.model import backbone_pooling, load_encoder, load_tokenizer

        self.source = resolve_backbone(backbone)
        self.pooling, _ = backbone_pooling(self.source)
        self.tokenizer = load_tokenizer(self.source)
        self.encoder = load_encoder(self.source).to(device).eval()
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._torch = torch
        self._lock = threading.Lock()

    def _embed(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def embed(self, texts: Sequence[str], progress: ProgressCallback = no_progress) -> np.ndarray:
        from ..training.model import batched_forward, tokenize

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.encoder.config.hidden_size), dtype=np.float32)
        with self._lock:
            sequences = tokenize(self.tokenizer, texts, self.max_length)
            vectors = batched_forward(self._embed, sequences, pad_id=self.tokenizer.pad_token_id or 0,
                                      batch_size=self.batch_size, device=self.device, progress=progress)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


@lru_cache(maxsize=4)
def shared_embedder(backbone: str | None = None, device: str = "cpu") -> TextEmbedder:
    return TextEmbedder(backbone, device=device)
