"""The "augmentation" training plugin: few-label sampling and augmentation before training.

    ClassifierConfig(plugins={"augmentation": {"few_shot_k": 10, "ops": ["eda", "paraphrase"]}})

It runs on the training split only (the validation split is held out first), and what it did
(originals, augmented rows per augmenter, what the filter dropped) goes into the model's
training data summary under plugins.augmentation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..training.plugins import TrainingPlugin, register_training_plugin
from .augment import AugmentationOptions, augment_labelled

if TYPE_CHECKING:  # pragma: no cover
    from ..data import LabelledTexts
    from ..training.config import ClassifierConfig


class AugmentationPlugin(TrainingPlugin):
    name = "augmentation"

    def __init__(self, **options: Any) -> None:
        self.options = AugmentationOptions.from_dict(options)
        self._summary: dict[str, Any] = {}

    def prepare_train(self, train: LabelledTexts, config: ClassifierConfig) -> LabelledTexts:
        from ..backbone import select_device

        device = select_device(config.device, config.cpu_threads).device
        augmented, summary = augment_labelled(train, self.options, backbone=config.base_model, device=device,
                                              seed=config.seed, progress=self.progress)
        if self.options.few_shot_k:
            summary["few_shot"] = augmented.stats.get("few_shot", {"k": self.options.few_shot_k})
        self._summary = summary
        return augmented

    def summary(self) -> dict[str, Any]:
        return self._summary


register_training_plugin(AugmentationPlugin.name, AugmentationPlugin)
