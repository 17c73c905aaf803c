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
        from . import scenario
        from .services import jobs, trust
        from .services.training import (
            SENTIMENT_DEFAULT_CONFIG,
            TOPIC_DEFAULT_CONFIG,
            recent_document_texts,
            sentiment_training_data,
            sentiment_training_readiness,
            topic_training_data,
            topic_training_readiness,
        )

        scenario.register(
            sentiment_training_data=sentiment_training_data, sentiment_readiness=sentiment_training_readiness,
            sentiment_config=SENTIMENT_DEFAULT_CONFIG, topic_training_data=topic_training_data,
            topic_readiness=topic_training_readiness, topic_config=TOPIC_DEFAULT_CONFIG,
            live_inputs=recent_document_texts, shadow_labels=trust.shadow_labels, retention=trust.retention_kind(),
            sentiment_activated=jobs.sentiment_version_activated)
