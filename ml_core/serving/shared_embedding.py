"""A classifier served on a process's shared sentence embedding when it can be, else in full.

A process that already embeds every text with one shared encoder (for retrieval, topic matching)
can apply a `head` classifier trained on that same encoder straight to that embedding: no second
encoder pass. That is faithful only when the artifact was trained on the same backbone *with the
same pooling and normalisation* the shared encoder applies; any other artifact (full or LoRA
fine-tuning, another backbone, other pooling) is served by ClassifierPredictor on the texts.

    classifier = load_shared_embedding_classifier(folder, shared_backbone="all-MiniLM-L6-v2")
    probabilities = classifier.probabilities(texts, embeddings)  # embeddings: the raw shared vectors
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact_format import HEAD_FILE, ArtifactConfig, backbone_pooling, read_artifact_config
from ..numeric import l2_normalise, softmax

__all__ = ["SharedEmbeddingClassifier", "head_fits_shared_embedding", "load_shared_embedding_classifier"]


@dataclass
class SharedEmbeddingClassifier:
    """Calibrated probabilities of one classifier: its head on the shared embedding (`weight` set),
    or its full predictor (`predictor` set: one more encoder pass)."""

    labels: list[str]
    weight: np.ndarray | None = None  # (labels, dim): the head on the shared encoder's embedding
    bias: np.ndarray | None = None
    normalize: bool = True  # L2-normalise the embedding first (as the backbone's own pooling does)
    temperature: float = 1.0
    predictor: Any = None  # ml_core.serving.ClassifierPredictor, when the head does not fit

    def __post_init__(self) -> None:
        if (self.weight is None) == (self.predictor is None):
            raise ValueError("a shared-embedding classifier has either a head (weight, bias) or a predictor")
        if self.weight is not None:
            self.weight = np.ascontiguousarray(self.weight, dtype=np.float32)
            self.bias = np.asarray(self.bias, dtype=np.float32)
        self.temperature = float(self.temperature) or 1.0

    @property
    def on_shared_embedding(self) -> bool:
        """True when no second encoder pass is needed."""
        return self.weight is not None

    @classmethod
    def of_predictor(cls, predictor) -> SharedEmbeddingClassifier:
        return cls(labels=list(predictor.labels), predictor=predictor)

    def probabilities(self, texts: Sequence[str], embeddings: np.ndarray | None) -> np.ndarray:
        """(len(texts), len(labels)) calibrated probabilities, columns in `labels` order.
        `embeddings`: the shared encoder's raw (not normalised) vectors of `texts`, one row each
        (a single vector is one row); only the head reads them."""
        if self.weight is None:
            return self.predictor.predict_proba(list(texts))
        if embeddings is None:
            raise ValueError("this classifier is applied to the shared embedding: pass the texts' embeddings")
        features = l2_normalise(embeddings) if self.normalize else np.atleast_2d(embeddings).astype(np.float32)
        return softmax(features @ self.weight.T + self.bias, self.temperature)


def head_fits_shared_embedding(config: ArtifactConfig, shared_backbone: str) -> bool:
    """Is this artifact a `head` on the shared encoder's embedding: the same backbone, pooled and
    normalised the same way?"""
    from ..backbone import resolve_backbone

    if config.method != "head":
        return False
    shared = resolve_backbone(shared_backbone)
    return resolve_backbone(config.base_model) == shared and \
        (config.pooling, config.normalize) == backbone_pooling(shared)


def load_shared_embedding_classifier(folder: Path | str, *, shared_backbone: str, device: str = "cpu",
                                     **predictor_options: Any) -> SharedEmbeddingClassifier:
    """The cheapest faithful way to serve the classifier in `folder` next to a `shared_backbone`
    encoder. `predictor_options` (backend, batch_size) go to ClassifierPredictor.load when the head
    does not fit the shared embedding."""
    folder = Path(folder)
    config = read_artifact_config(folder)
    if head_fits_shared_embedding(config, shared_backbone):
        from safetensors.numpy import load_file

        head = load_file(str(folder / HEAD_FILE))
        return SharedEmbeddingClassifier(labels=list(config.labels), weight=head["weight"], bias=head["bias"],
                                         normalize=config.normalize, temperature=config.temperature)
    from .predictor import ClassifierPredictor

    return SharedEmbeddingClassifier.of_predictor(ClassifierPredictor.load(folder, device=device,
                                                                           **predictor_options))
