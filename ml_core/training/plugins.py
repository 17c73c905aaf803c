"""Extension points of classifier training: data augmentation, adversarial training, ...

A plugin is registered once under a name; a `ClassifierConfig` turns it on with
`plugins={"<name>": {<options>}}`, so options are saved with the model like every other one.
Each hook has a do-nothing default:

- `prepare_train(train, config)`: the training rows for this run (augmentation adds rows);
- `training_loss(step)`: the loss to back-propagate for one batch (adversarial training adds
  a loss computed on perturbed embeddings, via `step.forward(inputs_embeds=...)`);
- `on_epoch_end(epoch, record)`: see each epoch's curve record;
- `summary()`: what the plugin did, stored in the model's training data summary under
  plugins.<name> (e.g. how many augmented rows were added and kept).
The trainer sets `plugin.progress` before `prepare_train`, so long preparation reports progress
and stops when the job is cancelled. Plugins that ship with ml_core (BUILTIN_PLUGIN_MODULES)
register themselves when first looked up.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..progress import ProgressCallback, no_progress
from .config import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..data import LabelledTexts
    from .config import ClassifierConfig


@dataclass
class TrainingStep:
    """One optimisation step, as a plugin sees it."""

    model: Any  # ml_core.training.model.TextClassifier (maybe wrapped in DDP)
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    logits: torch.Tensor
    loss: torch.Tensor
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    epoch: int
    step: int

    def forward(self, **kwargs: Any) -> torch.Tensor:
        """Logits for this batch; pass inputs_embeds=... to run on perturbed embeddings."""
        kwargs.setdefault("attention_mask", self.attention_mask)
        if "inputs_embeds" not in kwargs:
            kwargs.setdefault("input_ids", self.input_ids)
        return self.model(**kwargs)


class TrainingPlugin:
    """Base class: override the hooks you need."""

    name = "plugin"
    progress: ProgressCallback = staticmethod(no_progress)

    def __init__(self, **options: Any) -> None:
        if options:
            raise ConfigError(f"plugin {self.name!r} takes no options, got {', '.join(sorted(options))}")

    def prepare_train(self, train: LabelledTexts, config: ClassifierConfig) -> LabelledTexts:
        return train

    def training_loss(self, step: TrainingStep) -> torch.Tensor:
        return step.loss

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> None:
        return None

    def summary(self) -> dict[str, Any]:
        return {}


_PLUGINS: dict[str, Callable[..., TrainingPlugin]] = {}
# Modules that register plugins shipped with ml_core (imported on first lookup, not before:
# they may pull in heavier libraries than building a config needs).
BUILTIN_PLUGIN_MODULES = ("ml_core.augmentation.plugin", "ml_core.training.adversarial")


def _load_builtin_plugins() -> None:
    for module in BUILTIN_PLUGIN_MODULES:
        importlib.import_module(module)


def register_training_plugin(name: str, factory: Callable[..., TrainingPlugin]) -> None:
    """Make `plugins={name: options}` in a config build `factory(**options)`."""
    _PLUGINS[name] = factory


def registered_training_plugins() -> list[str]:
    _load_builtin_plugins()
    return sorted(_PLUGINS)


def build_plugins(config: ClassifierConfig) -> list[TrainingPlugin]:
    plugins = []
    if config.plugins:
        _load_builtin_plugins()
    for name, options in (config.plugins or {}).items():
        factory = _PLUGINS.get(name)
        if factory is None:
            known = ", ".join(registered_training_plugins()) or "none registered"
            raise ConfigError(f"unknown training plugin {name!r} (known: {known})")
        if not isinstance(options, dict):
            raise ConfigError(f"options of training plugin {name!r} must be a dict")
        try:
            plugins.append(factory(**options))
        except TypeError as exc:
            raise ConfigError(f"training plugin {name!r}: {exc}") from exc
    return plugins
