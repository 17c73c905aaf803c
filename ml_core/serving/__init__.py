"""Serve trained classifiers: `ClassifierPredictor.load(folder).predict(texts)`."""
from .predictor import (
    ClassifierPredictor,
    LogitsBackend,
    Prediction,
    TorchLogitsBackend,
    register_backend,
    registered_backends,
)

__all__ = ["ClassifierPredictor", "LogitsBackend", "Prediction", "TorchLogitsBackend", "register_backend",
           "registered_backends"]
