"""Serve trained classifiers: `ClassifierPredictor.load(folder).predict(texts)`."""
from .predictor import (
    ClassifierPredictor,
    LogitsBackend,
    Prediction,
    TorchLogitsBackend,
    register_backend,
    registered_backends,
)
from . import onnx_backend  # noqa: E402,F401  registers the "onnx" and "auto" (default) backends

__all__ = ["ClassifierPredictor", "LogitsBackend", "Prediction", "TorchLogitsBackend", "register_backend",
           "registered_backends"]
