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
        from . import scenario
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

        scenario.register(
            training_data=intent_training_data, readiness=intent_training_readiness,
            live_inputs=recent_customer_questions, open_intent_fit=open_intent_fit,
            policy_read=assistant_policy_read, policy_write=assistant_policy_write, shadow_labels=shadow_labels,
            conversations_delete_before=conversations_delete_before)
