from django.apps import AppConfig


class FinanceSentimentConfig(AppConfig):
    name = "apps.finance_sentiment"
    label = "finance_sentiment"
    verbose_name = "Finance sentiment"
    # Permissions operators get besides viewing ("app_label.codename"); see apps.core.roles.
    operator_permissions: tuple[str, ...] = ()
