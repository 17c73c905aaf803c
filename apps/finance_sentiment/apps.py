from django.apps import AppConfig


class FinanceSentimentConfig(AppConfig):
    name = "apps.finance_sentiment"
    label = "finance_sentiment"
    verbose_name = "Finance sentiment"
    # Permissions operators get besides viewing ("app_label.codename"); see apps.core.roles.
    # Operators run the monitor: topics, watchlist, feeds, alert rules, uploads, labels.
    operator_permissions: tuple[str, ...] = (
        "finance_sentiment.add_topic", "finance_sentiment.change_topic",
        "finance_sentiment.add_ticker", "finance_sentiment.change_ticker",
        "finance_sentiment.add_feed", "finance_sentiment.change_feed",
        "finance_sentiment.add_alertrule", "finance_sentiment.change_alertrule",
        "finance_sentiment.change_alert", "finance_sentiment.change_document",
    )

    def ready(self) -> None:
        from apps.core.scenarios import ClassifierTraining, classifier_scenario, register_scenario

        from .services.training import (
            SENTIMENT_DEFAULT_CONFIG,
            TOPIC_DEFAULT_CONFIG,
            recent_document_texts,
            sentiment_training_data,
            sentiment_training_readiness,
            topic_training_data,
            topic_training_readiness,
        )

        register_scenario(classifier_scenario(
            key="finance_sentiment.sentiment", label="Finance sentiment: negative / neutral / positive",
            description="Fine-tuned on the labelled sets admins upload (Financial PhraseBank format, CSV or JSON "
                        "Lines) and on documents operators labelled; sets marked 'evaluation only' decide activation.",
            training=ClassifierTraining(training_data=sentiment_training_data, default_config=SENTIMENT_DEFAULT_CONFIG,
                                        readiness=sentiment_training_readiness, live_inputs=recent_document_texts),
        ))
        register_scenario(classifier_scenario(
            key="finance_sentiment.topics", label="Finance sentiment: topic classifier",
            description="Learns the operators' topic labels on documents; applied to the embedding that topic "
                        "similarity already computes.",
            training=ClassifierTraining(training_data=topic_training_data, default_config=TOPIC_DEFAULT_CONFIG,
                                        readiness=topic_training_readiness, live_inputs=recent_document_texts),
            has_policy=False,  # topics are assigned by each topic's own threshold (topics page)
        ))
        # Control page, shadow mode and data retention (apps.core; see services/trust.py).
        from apps.core.services.control import register_policy_defaults
        from apps.core.services.retention import register_retention
        from apps.core.services.shadow import register_label_resolver

        from .services import trust

        register_policy_defaults("finance_sentiment.sentiment", confidence_threshold=0.5, low_confidence_action="review")
        register_label_resolver("finance_sentiment.sentiment", trust.shadow_labels)
        register_retention(trust.retention_kind())
