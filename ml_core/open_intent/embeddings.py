"""The vectors a detector is fitted on: a trained classifier's own pooled sentence embedding.

For a `head` model that is the frozen shared encoder's embedding; for `full` and `lora` models it
is the fine-tuned encoder's, i.e. exactly the features the classifier's head reads. torch is
imported on first use.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..progress import ProgressCallback, no_progress
from .detector import OpenIntentConfig, OpenIntentDetector


class ClassifierEmbedder:
    """`embed(texts)`: L2-normalised pooled embeddings of a classifier network (eval mode)."""

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int, device: str = "cpu",
                 batch_size: int = 64) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.device = device
        self.batch_size = batch_size

    @classmethod
    def load(cls, folder: Path | str, *, device: str = "cpu", batch_size: int = 64) -> ClassifierEmbedder:
        """From a classifier artifact folder (ml_core.training)."""
        from ..backbone import select_device
        from ..training.model import load_classifier

        device = select_device(device).device
        model, tokenizer, config = load_classifier(folder, device=device)
        return cls(model, tokenizer, max_length=config.max_length, device=device, batch_size=batch_size)

    @classmethod
    def from_training(cls, result: Any, *, max_length: int, batch_size: int = 64) -> ClassifierEmbedder:
        """From a `TrainResult` still in memory (no reload after training)."""
        device = str(next(result.model.parameters()).device)
        return cls(result.model, result.tokenizer, max_length=max_length, device=device, batch_size=batch_size)

    def embed(self, texts: Sequence[str], progress: ProgressCallback = no_progress) -> np.ndarray:
        return self.embed_with_logits(texts, progress)[0]

    def embed_with_logits(self, texts: Sequence[str], progress: ProgressCallback = no_progress
                          ) -> tuple[np.ndarray, np.ndarray]:
        """(L2-normalised embeddings, the classifier's raw logits) from one pass over the texts."""
        from ..numeric import l2_normalise
        from ..training.model import batched_forward, tokenize

        texts = list(texts)
        dimension, n_labels = self.model.head.in_features, self.model.head.out_features
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32), np.zeros((0, n_labels), dtype=np.float32)

        def pooled_and_logits(input_ids, attention_mask):
            import torch

            pooled = self.model.embed(input_ids, attention_mask)
            return torch.cat([pooled, self.model.head(pooled)], dim=1)

        sequences = tokenize(self.tokenizer, texts, self.max_length)
        out = batched_forward(pooled_and_logits, sequences, pad_id=self.tokenizer.pad_token_id or 0,
                              batch_size=self.batch_size, device=self.device, progress=progress)
        return l2_normalise(out[:, :dimension]), np.ascontiguousarray(out[:, dimension:])


def fit_for_classifier(embedder: ClassifierEmbedder, train_texts: Sequence[str], train_labels: Sequence[str], *,
                       calibration_texts: Sequence[str] | None = None, config: OpenIntentConfig | None = None,
                       progress: ProgressCallback = no_progress) -> OpenIntentDetector:
    """A detector on a classifier's embedding (and logits) of its known intents' texts.

    `calibration_texts`: known-intent texts the classifier did not train on (its validation
    split); required for a fine-tuned encoder and for the logit score (the default). A `head`
    model with `logit_score=None` may leave them out (cross-fitting). Save the result into the
    model's folder with `detector.save(folder)` before the folder's manifest is written.
    """
    from ..progress import sub_progress

    vectors = embedder.embed(train_texts, sub_progress(progress, 0, 80))
    calibration = calibration_logits = None
    if calibration_texts is not None:
        calibration, calibration_logits = embedder.embed_with_logits(calibration_texts,
                                                                     sub_progress(progress, 80, 95))
    progress(95.0, "calibrating the open-intent threshold")
    detector = OpenIntentDetector.fit(vectors, train_labels, config=config, calibration_vectors=calibration,
                                      calibration_logits=calibration_logits)
    progress(100.0, f"open-intent threshold {detector.threshold:.4f}")
    return detector
