"""The scenarios that own model versions, registered by their apps in AppConfig.ready().

A scenario knows how to start its retraining (a service that creates and enqueues a Job), so
the admin's "retrain" action and the nightly schedules need not know any app's details.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .models import Job

if TYPE_CHECKING:  # pragma: no cover
    from ml_core.data import LabelledTexts


@dataclass
class TrainingData:
    """What a classifier scenario trains on: train, and optionally its own validation and test sets.

    Without `valid`, a stratified share of `train` is held out. With `test`, the new version
    and the active one are both scored on it, and the activation policy compares them on it
    (else on the validation split).
    """

    train: LabelledTexts
    valid: LabelledTexts | None = None
    test: LabelledTexts | None = None


@dataclass(frozen=True)
class ClassifierTraining:
    """How a scenario trains its text classifier (apps.core.services.classifiers runs it)."""

    # training_data(params) -> TrainingData, from the app's own tables or files.
    training_data: Callable[[dict], TrainingData]
    # ClassifierConfig options for this scenario; a job's params["config"] overrides them.
    default_config: dict[str, Any] = field(default_factory=dict)
    # readiness(params) -> "" when the data is there, else why a training could only fail; cheap
    # (counts, no texts): every start of a training, tuning or compression job asks it first.
    readiness: Callable[[dict], str] | None = None
    # live_inputs(limit) -> the newest texts the served model answered, for the activation
    # policy's label-shift guard (services.activation); None: the scenario has none to offer.
    live_inputs: Callable[[int], list[str]] | None = None
    # artifact_extras(folder=, data=, progress=) -> metrics: more files the scenario's serving loads
    # with the model (e.g. an open-intent detector), written into the version's folder before it is
    # sealed; its figures join the version's metrics.
    artifact_extras: Callable[..., dict[str, float]] | None = None


@dataclass(frozen=True)
class Scenario:
    key: str  # "customer_service.intent"
    label: str  # "Customer service: intent classifier"
    description: str = ""
    # retrain(created_by=user, params=dict) -> Job; None when the scenario is not trainable yet.
    retrain: Callable[..., Job] | None = None
    # URL name of the page that shows one model version of this scenario, if the app has one.
    detail_url_name: str | None = None
    # Set for scenarios whose model is a text classifier (see classifier_scenario()).
    classifier: ClassifierTraining | None = None
    # Whether serving reads this scenario's confidence policy (the control page lists only those).
    has_policy: bool = True
    # Called (after commit) when a version of this scenario becomes the active one, e.g. to score
    # what waited for a model at once instead of at the next sweep.
    on_activated: Callable[[Any], None] | None = None


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


# classifier_training_start(scenario=, created_by=, params=) -> Job: services.classifiers' starter,
# registered by the core app's AppConfig.ready(), so that this registry imports no service.
_classifier_training_start: Callable[..., Job] | None = None


def classifier_training_register(start: Callable[..., Job]) -> None:
    global _classifier_training_start
    _classifier_training_start = start


def _classifier_retrain(*, scenario: str, created_by=None, params: dict | None = None) -> Job:
    if _classifier_training_start is None:
        raise RuntimeError("no classifier training starter registered (apps.core is not ready)")
    return _classifier_training_start(scenario=scenario, created_by=created_by, params=params)


def classifier_scenario(*, key: str, label: str, training: ClassifierTraining, description: str = "",
                        detail_url_name: str = "model_version_detail", has_policy: bool = True,
                        on_activated: Callable[[Any], None] | None = None) -> Scenario:
    """A scenario whose retraining is the generic classifier-training job (core.train_classifier)."""
    from functools import partial

    return Scenario(key=key, label=label, description=description, detail_url_name=detail_url_name,
                    retrain=partial(_classifier_retrain, scenario=key), classifier=training,
                    has_policy=has_policy, on_activated=on_activated)
