"""Data augmentation: perturbations, synonyms, paraphrases, back-translation, filtering, few-label
sampling, and the "augmentation" training plugin (see augment.py for the entry points)."""
from .augment import (
    FEW_SHOT_KS,
    MODEL_OPS,
    OPS,
    RULE_OPS,
    AugmentationError,
    AugmentationOptions,
    augment_labelled,
    few_shot_sample,
)

__all__ = [
    "FEW_SHOT_KS", "MODEL_OPS", "OPS", "RULE_OPS", "AugmentationError", "AugmentationOptions",
    "augment_labelled", "few_shot_sample",
]
