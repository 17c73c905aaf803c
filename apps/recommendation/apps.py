from django.apps import AppConfig


class RecommendationConfig(AppConfig):
    name = "apps.recommendation"
    label = "recommendation"
    verbose_name = "Recommendation"
    # Permissions operators get besides viewing ("app_label.codename"); see apps.core.roles.
    # Operators feed the catalogue and the events; retraining stays with admins.
    operator_permissions: tuple[str, ...] = (
        "recommendation.add_item", "recommendation.change_item", "recommendation.add_enduser",
        "recommendation.change_enduser", "recommendation.add_interaction",
    )

    def ready(self) -> None:
        from . import scenario
        from .services import recommender_retrain_start

        scenario.register(retrain=recommender_retrain_start)
