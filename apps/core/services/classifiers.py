"""Classifier scenarios: train a new model version from a Job, tune hyperparameters, read reports.

A scenario app registers `classifier_scenario(key=..., training=ClassifierTraining(...))`
(apps.core.scenarios) with a training-data provider; the admin's retrain action and
`classifier_training_start` then run the job `core.train_classifier`, which

 1. builds the config (ML_BACKBONE, the scenario's defaults, the job's params["config"]),
 2. trains with ml_core (progress and cancel through the job, a checkpoint per epoch so a new
    job with the same settings resumes after a lost worker), curves written to the job live,
 3. registers the artifact atomically as a ModelVersion (scored on the scenario's test set
    when it has one),
 4. asks the activation policy (services.activation): enough evaluation texts of every label,
    the degenerate-model guards, and a paired comparison with the active version on the same
    texts (the test set, else the validation split); the verdict, in words, stays on the version;
 5. once the job has succeeded, queues the compression of a fine-tuned version (services.compression,
    ML_COMPRESS_AFTER_TRAINING), which promotes the fastest variant within the accuracy guardrail.

Every start first checks what the job needs (the scenario's `readiness`, the options) and
refuses with a UserError instead of queueing a job that can only fail.

`core.tune_classifier` runs an optuna search on the same data, keeps every trial's figures
on the job and activates nothing.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from ml_core.errors import UserError
from ml_core.progress import sub_progress

from ..models import Job
from ..scenarios import ClassifierTraining, Scenario, TrainingData, get_scenario
from .activation import activation_request, classifier_activation
from .classifier_files import TEST_REPORT_FILE
from .classifier_files import json_safe as _json_safe
from .jobs import JobOutcome, job_start
from .registry import BuiltArtifact, model_version_create

if TYPE_CHECKING:  # pragma: no cover
    from ml_core.data import LabelledTexts

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = ".checkpoints"
# Where each step of a training job moves the bar (percent): training, scoring the test set, the
# explanations' faithfulness check (about as long as a head training on a CPU), the rest.
TRAINING_PROGRESS_END = 86.0
TEST_SET_PROGRESS = 87.0
FAITHFULNESS_PROGRESS = (88.0, 96.5)


# --- starting jobs ------------------------------------------------------------------------------
def _classifier_spec(scenario_key: str) -> tuple[Scenario, ClassifierTraining]:
    try:
        scenario = get_scenario(scenario_key)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from exc
    if scenario.classifier is None:
        raise UserError(f"{scenario.label} is not a classifier scenario")
    return scenario, scenario.classifier


def classifier_training_refusal(*, training: ClassifierTraining, params: dict) -> str:
    """Why a training (or tuning) job of this scenario could only fail, or "" when it can start:
    bad options, an encoder that is not there, too little labelled data (the scenario's readiness)."""
    from ml_core.backbone import resolve_backbone

    try:
        config = classifier_config(training=training, params=params)
        resolve_backbone(config.base_model)
    except UserError as exc:
        return str(exc)
    return training.readiness(params) if training.readiness is not None else ""


def _refuse_unless_ready(training: ClassifierTraining, params: dict) -> None:
    why = classifier_training_refusal(training=training, params=params)
    if why:
        raise UserError(f"Not started: {why}")


def classifier_training_start(*, scenario: str, created_by=None, params: dict | None = None) -> Job:
    """Queue `core.train_classifier` for a scenario. params: {"config": {...}, "activate": policy
    (default; also true) | never (also false) | always (activate unless the policy refuses)}."""
    found, training = _classifier_spec(scenario)
    params = dict(params or {})
    activation_request(params.get("activate"))
    _refuse_unless_ready(training, params)
    return job_start(task="core.train_classifier", title=f"Train {found.label}", params=params, scenario=scenario,
                     created_by=created_by)


def classifier_tuning_start(*, scenario: str, created_by=None, params: dict | None = None) -> Job:
    """Queue `core.tune_classifier`. params: trials, methods, max_epochs, objective, config."""
    found, training = _classifier_spec(scenario)
    params = {"trials": 6, **(params or {})}
    _refuse_unless_ready(training, params)
    return job_start(task="core.tune_classifier", title=f"Tune {found.label}", params=params, scenario=scenario,
                     created_by=created_by)


# --- the work of the jobs ------------------------------------------------------------------------
def classifier_config(*, training: ClassifierTraining, params: dict):
    from ml_core.training import ClassifierConfig

    options = {"base_model": settings.ML_BACKBONE, **training.default_config, **(params.get("config") or {})}
    options.setdefault("device", settings.ML_DEVICE)
    options.setdefault("cpu_threads", settings.ML_CPU_THREADS)
    return ClassifierConfig.from_dict(options).validate()


def _training_data(training: ClassifierTraining, params: dict) -> TrainingData:
    data = training.training_data(params)
    if not isinstance(data, TrainingData):
        raise TypeError(f"training_data must return TrainingData, not {type(data).__name__}")
    return data


def _test_figures(report: dict) -> dict[str, float]:
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "ece": report["ece"], "n": report["n"]}


def numeric_metrics(metrics: dict) -> dict[str, float]:
    """The numbers of a training result's metrics (what a version's metrics keep of them)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def scored_on_test_set(folder: Path, test: LabelledTexts, *, device: str) -> dict[str, float]:
    """Score a new version's folder on the scenario's test set, write its report there, and return
    the headline figures (accuracy, macro_f1, ece, n)."""
    from ml_core.evaluation import evaluate
    from ml_core.serving import ClassifierPredictor

    report = evaluate(ClassifierPredictor.load(folder, device=device), test)
    (folder / TEST_REPORT_FILE).write_text(json.dumps(_json_safe(report), indent=2))
    return _test_figures(report)


def evaluation_set(data: TrainingData, config) -> tuple[LabelledTexts, str]:
    """The texts the activation policy judges a new version on, and what they are: the scenario's
    test set, else its validation set, else the split the trainer held out of the training data."""
    from ml_core.data import stratified_split

    if data.test is not None and len(data.test):
        return data.test, "the test set"
    if data.valid is not None and len(data.valid):
        return data.valid, "the validation set"
    _, valid = stratified_split(data.train, test_fraction=config.valid_fraction, seed=config.seed)
    return valid, "the validation split held out of the training data"


def _live_curves(job_id) -> Callable[[dict], None]:
    curves: list[dict] = []

    def on_epoch(record: dict) -> None:
        curves.append(record)
        Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(result=_json_safe({"curves": curves}))

    return on_epoch


def _faithfulness(folder: Path, data: TrainingData, *, device: str, progress) -> dict[str, float]:
    """The deletion check of the new model's explanations (services.explanations), on the test
    texts when there are some, else the validation texts, else the training texts. The report is
    faithfulness.json in the artifact; its headline figures join the version's metrics."""
    from .explanations import faithfulness_of_folder

    texts = next((d.texts for d in (data.test, data.valid, data.train) if d is not None and len(d)), [])
    progress(FAITHFULNESS_PROGRESS[0], "checking that the explanations are faithful")
    step = sub_progress(progress, *FAITHFULNESS_PROGRESS)
    report = faithfulness_of_folder(folder, texts, device=device, progress=lambda percent, message="": step(
        percent, f"checking that the explanations are faithful: {message}" if message else ""))
    if not report:
        return {}
    figures = {"faithfulness_drop_top": report["mean_drop_top"], "faithfulness_drop_random": report["mean_drop_random"],
               "faithfulness_passed": float(report["passed"]), "faithfulness_p": report["p_value"]}
    return {k: v for k, v in _json_safe(figures).items() if v is not None}


def classifier_training_run(*, job: Job, progress) -> JobOutcome:
    """The work of `core.train_classifier`."""
    from ml_core.training import train_classifier

    from .compression import compression_follow_up

    scenario, training = _classifier_spec(job.scenario)
    params = job.params or {}
    config = classifier_config(training=training, params=params)
    progress(1.0, "loading the training data")
    data = _training_data(training, params)
    checkpoint_dir = Path(settings.ARTIFACTS_ROOT) / CHECKPOINTS_DIR / scenario.key
    trained: dict[str, Any] = {}

    def build(folder: Path) -> BuiltArtifact:
        result = train_classifier(config, data.train, folder, valid=data.valid,
                                  progress=sub_progress(progress, 2.0, TRAINING_PROGRESS_END),
                                  checkpoint_dir=checkpoint_dir, on_epoch=_live_curves(job.pk))
        trained["result"] = result
        metrics = numeric_metrics(result.metrics)
        if data.test is not None:
            progress(TEST_SET_PROGRESS, f"scoring the test set ({len(data.test)} texts)")
            trained["test"] = scored_on_test_set(folder, data.test, device=result.metrics["device"])
            metrics.update({f"test_{k}": v for k, v in trained["test"].items()})
        metrics.update(_faithfulness(folder, data, device=result.metrics["device"], progress=progress))
        if training.artifact_extras is not None:
            metrics.update(training.artifact_extras(folder=folder, data=data, progress=progress))
        best = f", best epoch {result.metrics['best_epoch']} of {result.metrics['epochs_run']}" \
            if config.method != "head" else ""
        return BuiltArtifact(
            metrics=_json_safe(metrics), base_model=config.base_model,
            training_data_summary=_json_safe({**result.training_data_summary, "config": config.to_dict(),
                                              "test": data.test.summary() if data.test is not None else None}),
            notes=f"{config.method} training on {result.metrics['device']}{best}",
        )

    version = model_version_create(scenario=scenario.key, build=build, created_by=job.created_by, job=job)
    result = trained["result"]
    progress(97.0, "deciding on activation (the activation policy)")
    evaluation, evaluated_on = evaluation_set(data, config)
    verdict = classifier_activation(version=version, evaluation=evaluation, evaluated_on=evaluated_on,
                                    live_inputs=training.live_inputs, device=result.metrics["device"],
                                    request=activation_request(params.get("activate")))
    headline = {k: result.metrics[k] for k in ("method", "accuracy", "macro_f1", "ece", "temperature", "best_epoch",
                                               "epochs_run", "seconds_per_epoch", "train_seconds", "device")}
    if trained.get("test"):
        headline.update({f"test_{k}": v for k, v in trained["test"].items()})
    return JobOutcome(
        metrics=_json_safe(headline),
        result=_json_safe({
            "model_version_id": version.pk, "version": version.version, "activated": verdict.activated,
            "activation": verdict.reason, "activation_decision": verdict.decision,
            "compared_with": f"v{verdict.compared_with}" if verdict.compared_with else None,
            "resumed_from_epoch": result.resumed_from_epoch, "curves": result.curves,
        }),
        message=(f"v{version.version}: accuracy {result.metrics['accuracy']:.4f}, "
                 f"macro-F1 {result.metrics['macro_f1']:.4f} — {verdict.outcome}"),
        # Once this job has succeeded: compress the version (its own job; ML_COMPRESS_AFTER_TRAINING).
        follow_up=compression_follow_up(version=version, job=job, method=config.method),
    )


def classifier_tuning_run(*, job: Job, progress) -> JobOutcome:
    """The work of `core.tune_classifier`: every trial's figures, nothing activated."""
    from ml_core.training import SearchSpace, tune_classifier

    _scenario, training = _classifier_spec(job.scenario)
    params = job.params or {}
    config = classifier_config(training=training, params=params)
    progress(1.0, "loading the training data")
    data = _training_data(training, params)
    space = SearchSpace(
        methods=tuple(params.get("methods") or ("head", "full", "lora")),
        max_epochs=int(params.get("max_epochs", 4)),
        **({"learning_rate": tuple(params["learning_rate"])} if params.get("learning_rate") else {}),
    )
    trials: list[dict] = []

    def on_trial(record: dict) -> None:
        trials.append(record)
        Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(result=_json_safe({"trials": trials}))

    search = tune_classifier(config, data.train, valid=data.valid, space=space, n_trials=int(params.get("trials", 6)),
                             objective=params.get("objective", "macro_f1"),
                             progress=sub_progress(progress, 2.0, 100.0), on_trial=on_trial)
    objective = search.objective
    best = search.best or {}
    return JobOutcome(
        metrics=_json_safe({"trials": len(search.trials), "complete": sum(t["state"] == "complete" for t in search.trials),
                            f"best_{objective}": best.get(objective), "best_trial": best.get("number"),
                            "seconds": search.seconds}),
        result=_json_safe(search.to_dict()),
        message=(f"best {objective} {best[objective]:.4f} with {best['config']}" if best
                 else "no trial completed") + "; nothing was activated",
    )
