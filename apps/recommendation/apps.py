from django.apps import AppConfig


class RecommendationConfig(AppConfig):
    name = "apps.recommendation"
    label = "recommendation"
    verbose_name = "Recommendation"
    # Permissions operators get besides viewing ("app_label.codename"); see apps.core.roles.
    operator_permissions: tuple[str, ...] = ()
