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
        from apps.core.scenarios import Scenario, register_scenario

        from .services import SCENARIO, recommender_retrain_start

        register_scenario(Scenario(
            key=SCENARIO, label="Recommendation: hybrid recommender",
            description="Popularity, item-kNN, ALS and a content model on sentence embeddings, blended "
                        "with weights tuned on a validation split.",
            retrain=recommender_retrain_start, detail_url_name="recommendation:version_detail",
        ))
