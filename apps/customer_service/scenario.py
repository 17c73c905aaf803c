"""The customer service app's scenario: its key, and its registration.

A leaf: serving, services, views and the demo take the key from here. AppConfig.ready() (apps.py)
calls register() with the services it wires in (training data, the assistant's settings, shadow
labels, retention), so this module imports no service and imports run one way (issue 19).
"""
from __future__ import annotations

from collections.abc import Callable

SCENARIO = "customer_service.intent"


def register(*, training_data: Callable, readiness: Callable, live_inputs: Callable, open_intent_fit: Callable,
             policy_read: Callable, policy_write: Callable, shadow_labels: Callable,
             conversations_delete_before: Callable) -> None:
    """Register the intent classifier, its policy store (the assistant's settings row), its shadow
    labels and the conversations' retention."""
    from apps.core.scenarios import ClassifierTraining, classifier_scenario, register_scenario
    from apps.core.services.control import PolicyStore, register_policy_store
    from apps.core.services.retention import RetentionKind, register_retention
    from apps.core.services.shadow import register_label_resolver

    register_scenario(classifier_scenario(
        key=SCENARIO, label="Customer service: intent classifier",
        description="Intents of customer questions, learnt from the knowledge base's example questions and "
                    "labelled conversations. A head on the sentence embedding the knowledge search "
                    "already computes: one encoder pass per message.",
        training=ClassifierTraining(
            training_data=training_data,
            # A logistic head on the shared sentence embedding reaches 98.9% on the Bitext split
            # (full fine-tuning: see bench/customer_service.py) and costs no extra encoder pass.
            default_config={"method": "head"},
            readiness=readiness, live_inputs=live_inputs,
            # Each version carries its open-intent detector (messages of no known intent).
            artifact_extras=open_intent_fit,
        ),
    ))
    # The control page edits the cascade's own settings row (one source of truth, audited there).
    register_policy_store(SCENARIO, PolicyStore(
        read=policy_read, write=policy_write, where="Customer service → Settings",
        actions=("handoff",), audited=True))
    # Shadow mode: the chat offers every understood message; review-queue labels are the truth.
    register_label_resolver(SCENARIO, shadow_labels)
    register_retention(RetentionKind("customer_service.conversations", "Chat conversations (with their messages)",
                                     conversations_delete_before))
