"""Serve trained classifiers: `ClassifierPredictor.load(folder).predict(texts)`; next to a shared
sentence encoder, `load_shared_embedding_classifier` (a head on the shared embedding, else the
full predictor); `OnnxSentenceEncoder`, the exported sentence encoder on ONNX Runtime.

The names in __all__ are what apps may use; the submodules are internals (an import-linter
contract in pyproject.toml keeps apps and config off them)."""
from . import onnx_backend  # noqa: F401  registers the "onnx" and "auto" (default) backends
from .onnx_backend import OnnxSentenceEncoder, serving_threads
from .predictor import (
    ClassifierPredictor,
    LogitsBackend,
    Prediction,
    TorchLogitsBackend,
    register_backend,
    registered_backends,
)
from .shared_embedding import (
    SharedEmbeddingClassifier,
    head_fits_shared_embedding,
    load_shared_embedding_classifier,
)

__all__ = [
    "ClassifierPredictor", "LogitsBackend", "OnnxSentenceEncoder", "Prediction", "SharedEmbeddingClassifier",
    "TorchLogitsBackend", "head_fits_shared_embedding", "load_shared_embedding_classifier",
    "register_backend", "registered_backends", "serving_threads",
]
