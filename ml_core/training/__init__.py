"""Fine-tune text classifiers on the configured backbone: head, full or LoRA (see trainer.py)."""
from .config import METHODS, ClassifierConfig, ConfigError
from .plugins import TrainingPlugin, TrainingStep, register_training_plugin
from .trainer import TrainResult, train_classifier

__all__ = [
    "METHODS", "ClassifierConfig", "ConfigError", "TrainResult", "TrainingPlugin", "TrainingStep",
    "register_training_plugin", "train_classifier",
]
