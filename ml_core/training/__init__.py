"""Fine-tune text classifiers on the configured backbone: head, full or LoRA (see trainer.py).

The config and plugin registry import without torch; `train_classifier` and `TrainResult`
load the trainer (and torch) on first use, so importing this package stays cheap for web
processes that only build configs.
"""
from .config import METHODS, ClassifierConfig, ConfigError
from .plugins import TrainingPlugin, TrainingStep, register_training_plugin

__all__ = [
    "METHODS", "ClassifierConfig", "ConfigError", "TrainResult", "TrainingPlugin", "TrainingStep",
    "register_training_plugin", "train_classifier",
]


def __getattr__(name: str):
    if name in ("train_classifier", "TrainResult"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
