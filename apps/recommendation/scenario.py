"""The recommendation app's scenario: its key, and its registration.

A leaf: selectors, serving, services and views take the key from here. AppConfig.ready() (apps.py)
calls register() with the service that retrains, so this module imports no service and imports
run one way (issue 19).
"""
from __future__ import annotations

from collections.abc import Callable

SCENARIO = "recommendation.hybrid"


def register(*, retrain: Callable) -> None:
    """Register the hybrid recommender; `retrain(created_by=, params=)` queues its training job."""
    from apps.core.scenarios import Scenario, register_scenario

    register_scenario(Scenario(
        key=SCENARIO, label="Recommendation: hybrid recommender",
        description="Popularity, item-kNN, ALS and a content model on sentence embeddings, blended "
                    "with weights tuned on a validation split.",
        retrain=retrain, detail_url_name="recommendation:version_detail",
    ))
