from django.apps import AppConfig


class CustomerServiceConfig(AppConfig):
    name = "apps.customer_service"
    label = "customer_service"
    verbose_name = "Customer service"
    # Permissions operators get besides viewing ("app_label.codename"); see apps.core.roles.
    # Operators keep the knowledge base and answer conversations; sites, the assistant's settings
    # and retraining stay with admins.
    operator_permissions: tuple[str, ...] = (
        "customer_service.add_kbentry", "customer_service.change_kbentry", "customer_service.delete_kbentry",
        "customer_service.add_kbexample", "customer_service.change_kbexample",
        "customer_service.delete_kbexample", "customer_service.change_conversation",
        "customer_service.add_message", "customer_service.change_message",
    )

    def ready(self) -> None:
        from apps.core.scenarios import ClassifierTraining, classifier_scenario, register_scenario
        from apps.core.services.control import PolicyStore, register_policy_store
        from apps.core.services.retention import RetentionKind, register_retention
        from apps.core.services.shadow import register_label_resolver

        from .services.chat import (
            assistant_policy_read,
            assistant_policy_write,
            conversations_delete_before,
            shadow_labels,
        )
        from .services.training import (
            intent_training_data,
            intent_training_readiness,
            open_intent_fit,
            recent_customer_questions,
        )
        from .serving import SCENARIO

        register_scenario(classifier_scenario(
            key=SCENARIO, label="Customer service: intent classifier",
            description="Intents of customer questions, learnt from the knowledge base's example questions and "
                        "labelled conversations. A head on the sentence embedding the knowledge search "
                        "already computes: one encoder pass per message.",
            training=ClassifierTraining(
                training_data=intent_training_data,
                # A logistic head on the shared sentence embedding reaches 98.9% on the Bitext split
                # (full fine-tuning: see bench/customer_service.py) and costs no extra encoder pass.
                default_config={"method": "head"},
                readiness=intent_training_readiness, live_inputs=recent_customer_questions,
                # Each version carries its open-intent detector (messages of no known intent).
                artifact_extras=open_intent_fit,
            ),
        ))
        # The control page edits the cascade's own settings row (one source of truth, audited there).
        register_policy_store(SCENARIO, PolicyStore(
            read=assistant_policy_read, write=assistant_policy_write, where="Customer service → Settings",
            actions=("handoff",), audited=True))
        # Shadow mode: the chat offers every understood message; review-queue labels are the truth.
        register_label_resolver(SCENARIO, shadow_labels)
        register_retention(RetentionKind("customer_service.conversations", "Chat conversations (with their messages)",
                                         conversations_delete_before))
