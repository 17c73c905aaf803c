"""The scenarios that own model versions, registered by their apps in AppConfig.ready().

A scenario knows how to start its retraining (a service that creates and enqueues a Job), so
the admin's "retrain" action and the nightly schedules need not know any app's details.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .models import Job


@dataclass(frozen=True)
class Scenario:
    key: str  # "customer_service.intent"
    label: str  # "Customer service: intent classifier"
    description: str = ""
    # retrain(created_by=user, params=dict) -> Job; None when the scenario is not trainable yet.
    retrain: Callable[..., Job] | None = None
    # URL name of the page that shows one model version of this scenario, if the app has one.
    detail_url_name: str | None = None


_SCENARIOS: dict[str, Scenario] = {}


def register_scenario(scenario: Scenario) -> None:
    _SCENARIOS[scenario.key] = scenario


def unregister_scenario(key: str) -> None:
    _SCENARIOS.pop(key, None)


def get_scenario(key: str) -> Scenario:
    try:
        return _SCENARIOS[key]
    except KeyError:
        raise KeyError(f"unknown scenario {key!r}; known: {', '.join(sorted(_SCENARIOS)) or 'none'}")


def all_scenarios() -> list[Scenario]:
    return sorted(_SCENARIOS.values(), key=lambda s: s.key)
