"""Open-intent detection: does a message belong to one of the known intents, or to none ("open")?

    detector = OpenIntentDetector.fit(train_vectors, train_labels,
                                      config=OpenIntentConfig(target_false_rejection=0.05),
                                      calibration_vectors=held_out_vectors)  # or None: cross-fitted
    detector.decide(message_vectors, predicted_labels)  # label None = open
    detector.curve.to_dict()    # threshold vs share of held-out known texts refused (JSON)
    detector.save(model_folder); OpenIntentDetector.load(model_folder)

Needs no example of an unknown intent. `ClassifierEmbedder` gives the vectors of a trained
classifier (the shared encoder for `head`, the fine-tuned encoder for `full`/`lora`). Importing
this package does not import torch.
"""
from .calibration import CalibrationCurve, CalibrationError
from .detector import (
    CONFIG_FILE,
    STATE_FILE,
    OpenIntentConfig,
    OpenIntentDecision,
    OpenIntentDetector,
    OpenIntentError,
    is_detector_folder,
)
from .scores import (
    EMBEDDING_METHODS,
    LOGIT_METHODS,
    LOGIT_SCORES,
    energy_score,
    max_logit_score,
    max_softmax_score,
)

__all__ = [
    "CONFIG_FILE", "EMBEDDING_METHODS", "LOGIT_METHODS", "LOGIT_SCORES", "STATE_FILE", "CalibrationCurve",
    "CalibrationError", "ClassifierEmbedder", "OpenIntentConfig", "OpenIntentDecision", "OpenIntentDetector",
    "OpenIntentError", "energy_score", "fit_for_classifier", "is_detector_folder", "max_logit_score",
    "max_softmax_score",
]


def __getattr__(name: str):
    if name in ("ClassifierEmbedder", "fit_for_classifier"):
        from . import embeddings

        return getattr(embeddings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
