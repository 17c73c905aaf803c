"""Robustness of classifier versions, and the augmentation / adversarial options of retraining.

`robustness_evaluation_start` queues the job `core.evaluate_robustness` for a model version;
its work, `robustness_evaluation_run`, scores the version on its scenario's evaluation data (the test
set when the scenario has one, else the validation set, else a held-out 20% of the training
data) under perturbations and a TextFooler-style word-substitution attack
(ml_core.trust.robustness), and stores the report with the version, in
`ModelVersion.metrics["robustness"]` (the artifact folder itself is sealed by its manifest).

`training_plugins_from_form` turns the retrain form's choices into ClassifierConfig plugin
options: augmentation, few-label training (k per class) and adversarial training.
"""
from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from ml_core.errors import UserError
from ml_core.progress import sub_progress

from ..models import Job, ModelVersion
from ..scenarios import get_scenario
from .jobs import JobOutcome, job_start
from .model_files import model_version_files_verified
from .registry import model_version_metrics_merge

log = logging.getLogger(__name__)

REPORT_KEY = "robustness"
EXAMPLES_KEPT = 6  # successful attacks stored with the report, for the page
HELD_OUT_SEED = 54


# --- retraining options -----------------------------------------------------------------------
def training_plugins_from_form(*, augment: list[str] | None = None, few_shot_k: int | None = None,
                               adversarial: str | None = None, adversarial_epsilon: float | None = None
                               ) -> dict[str, dict[str, Any]]:
    """ClassifierConfig.plugins for the retrain form's choices ({} when none is made).

    Options are checked here (by the plugins' own validation), so a bad choice is a form error,
    not a failed job. Back-translation uses ML_TRANSLATION_MODELS when it is configured.
    """
    from ml_core.augmentation import AugmentationOptions
    from ml_core.training import ClassifierConfig, build_plugins

    plugins: dict[str, dict[str, Any]] = {}
    if augment or few_shot_k:
        options: dict[str, Any] = {"ops": list(augment or [])}
        if few_shot_k:
            options["few_shot_k"] = int(few_shot_k)
        if "backtranslation" in options["ops"]:
            options["translation_models"] = list(settings.ML_TRANSLATION_MODELS)
        AugmentationOptions.from_dict(options)
        plugins["augmentation"] = options
    if adversarial:
        options = {"method": adversarial}
        if adversarial_epsilon is not None:
            options["epsilon"] = float(adversarial_epsilon)
        plugins["adversarial"] = options
    build_plugins(ClassifierConfig(plugins=plugins))  # unknown or bad options raise ConfigError here
    return plugins


# --- the robustness job --------------------------------------------------------------------------
def robustness_evaluation_start(*, version: ModelVersion, created_by=None, params: dict | None = None) -> Job:
    """Queue `core.evaluate_robustness` for a classifier version.

    params (all optional): attack_examples (default 300), perturbations (list), strength,
    sentence_similarity, seed.
    """
    from .classifier_files import classifier_reports

    if classifier_reports(version=version) is None:
        raise UserError(f"{version} is not a text classifier: there is nothing to attack")
    try:
        scenario = get_scenario(version.scenario)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from exc
    if scenario.classifier is None:
        raise UserError(f"{scenario.label} has no classifier training data to evaluate on")
    params = {"attack_examples": 300, **(params or {}), "model_version_id": version.pk}
    return job_start(task="core.evaluate_robustness", title=f"Robustness of {scenario.label} v{version.version}",
                     params=params, scenario=version.scenario, created_by=created_by)


def _evaluation_data(training, params: dict):
    """(evaluation data, what it is, training texts for the synonym vocabulary)."""
    from ml_core.data import stratified_split

    data = training.training_data(params)
    if data.test is not None:
        return data.test, "test set", data.train.texts
    if data.valid is not None:
        return data.valid, "validation set", data.train.texts
    train, held_out = stratified_split(data.train, test_fraction=0.2, seed=HELD_OUT_SEED)
    return held_out, "20% of the training data (held out with seed 54)", train.texts


def _settings(params: dict):
    from ml_core.trust import DEFAULT_PERTURBATIONS, AttackSettings, RobustnessSettings

    attack = AttackSettings(max_examples=int(params.get("attack_examples") or 300),
                            sentence_similarity=float(params.get("sentence_similarity", 0.8)),
                            seed=int(params.get("seed", 0)))
    return RobustnessSettings(perturbations=tuple(params.get("perturbations") or DEFAULT_PERTURBATIONS),
                              strength=float(params.get("strength", 0.1)), attack=attack,
                              seed=int(params.get("seed", 0))).validate()


def robustness_evaluation_run(*, job: Job, progress) -> JobOutcome:
    """The work of `core.evaluate_robustness`: the report, stored with the version."""
    from ml_core.backbone import select_device
    from ml_core.trust import robustness_of_model

    from .classifier_files import json_safe as _json_safe

    params = job.params or {}
    try:
        version = ModelVersion.objects.get(pk=params.get("model_version_id"))
    except ModelVersion.DoesNotExist:
        raise UserError(f"model version {params.get('model_version_id')} no longer exists") from None
    scenario = get_scenario(version.scenario)
    settings_ = _settings(params)
    folder = model_version_files_verified(version)
    progress(1.0, "loading the evaluation data")
    data, described, vocabulary = _evaluation_data(scenario.classifier, params)
    device = select_device(settings.ML_DEVICE, settings.ML_CPU_THREADS).device
    report = robustness_of_model(folder, data, settings=settings_, device=device,
                                 vocabulary_texts=vocabulary, progress=sub_progress(progress, 2.0, 98.0))
    report["data"] = described
    report["model"] = f"{version.scenario} v{version.version}"
    report["job_id"] = str(job.pk)
    if "attack" in report:
        report["attack"]["examples"] = report["attack"]["examples"][:EXAMPLES_KEPT]
    report = _json_safe(report)
    model_version_metrics_merge(version=version, values={REPORT_KEY: report})
    attack = report.get("attack", {})
    headline = {"clean_accuracy": report["clean_accuracy"], **{
        key: attack[key] for key in ("accuracy_under_attack", "attack_success_rate", "queries_per_example")
        if key in attack}}
    return JobOutcome(
        metrics=headline,
        result={"model_version_id": version.pk, "version": version.version, "data": described},
        message=(f"v{version.version}: clean accuracy {report['clean_accuracy']:.4f}"
                 + (f", under attack {attack['accuracy_under_attack']:.4f} "
                    f"(success rate {attack['attack_success_rate']:.2%})" if attack else "")),
    )
