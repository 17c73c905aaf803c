"""Fine-tune text classifiers on the configured backbone: head, full or LoRA (see trainer.py).

The names in __all__ are what apps may use; the submodules are internals (an import-linter
contract in pyproject.toml keeps apps and config off them; the artifact format is public in
ml_core.artifact_format). The config and plugin registry import without torch;
`train_classifier`, `TrainResult` and the search load the trainer (and torch) on first use, so
importing this package stays cheap for web processes that only build configs.
"""
from .config import METHODS, RECIPES, ClassifierConfig, ConfigError
from .plugins import TrainingPlugin, TrainingStep, build_plugins, register_training_plugin

# Loaded on first use: {name: submodule}.
_LAZY = {
    "TrainResult": "trainer", "train_classifier": "trainer",
    "SearchResult": "search", "SearchSpace": "search", "tune_classifier": "search",
    # adversarial.py registers the "adversarial" plugin when imported (build_plugins imports it by name)
    "DEFAULT_EPSILON": "adversarial",
}

__all__ = [
    "DEFAULT_EPSILON", "METHODS", "RECIPES", "ClassifierConfig", "ConfigError", "SearchResult", "SearchSpace",
    "TrainResult", "TrainingPlugin", "TrainingStep", "build_plugins", "register_training_plugin",
    "train_classifier", "tune_classifier",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
