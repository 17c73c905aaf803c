"""The finance sentiment app's scenarios: their keys, and their registration.

A leaf: serving (serving.py), the other services, selectors and views take the keys from
here. AppConfig.ready() (apps.py) calls register() with the services it wires in (training data,
readiness, shadow labels, retention), so this module imports no service and imports run one way
(issue 19).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

SENTIMENT_SCENARIO = "finance_sentiment.sentiment"
TOPIC_SCENARIO = "finance_sentiment.topics"


def register(*, sentiment_training_data: Callable, sentiment_readiness: Callable, sentiment_config: dict[str, Any],
             topic_training_data: Callable, topic_readiness: Callable, topic_config: dict[str, Any],
             live_inputs: Callable, shadow_labels: Callable, retention: Any,
             sentiment_activated: Callable | None = None) -> None:
    """Register the sentiment and topic classifiers, the sentiment policy's defaults, its shadow
    labels and the documents' retention."""
    from apps.core.scenarios import ClassifierTraining, classifier_scenario, register_scenario
    from apps.core.services.control import register_policy_defaults
    from apps.core.services.retention import register_retention
    from apps.core.services.shadow import register_label_resolver

    register_scenario(classifier_scenario(
        key=SENTIMENT_SCENARIO, label="Finance sentiment: negative / neutral / positive",
        description="Fine-tuned on the labelled sets admins upload (Financial PhraseBank format, CSV or JSON "
                    "Lines) and on documents operators labelled; sets marked 'evaluation only' decide activation.",
        training=ClassifierTraining(training_data=sentiment_training_data, default_config=sentiment_config,
                                    readiness=sentiment_readiness, live_inputs=live_inputs),
        on_activated=sentiment_activated,
    ))
    register_scenario(classifier_scenario(
        key=TOPIC_SCENARIO, label="Finance sentiment: topic classifier",
        description="Learns the operators' topic labels on documents; applied to the embedding that topic "
                    "similarity already computes.",
        training=ClassifierTraining(training_data=topic_training_data, default_config=topic_config,
                                    readiness=topic_readiness, live_inputs=live_inputs),
        has_policy=False,  # topics are assigned by each topic's own threshold (topics page)
    ))
    # Control page, shadow mode and data retention (apps.core; see services/trust.py).
    register_policy_defaults(SENTIMENT_SCENARIO, confidence_threshold=0.5, low_confidence_action="review")
    register_label_resolver(SENTIMENT_SCENARIO, shadow_labels)
    register_retention(retention)
