"""The classifier-training and tuning jobs, run in-process through job_run on tiny models."""
import json
from pathlib import Path

import pytest

from apps.core.models import Job, ModelVersion
from apps.core.scenarios import unregister_scenario
from apps.core.services.classifier_files import classifier_reports
from apps.core.services.classifiers import (
    classifier_training_start,
    classifier_tuning_start,
)
from apps.core.services.jobs import job_run
from apps.core.services.registry import artifact_dir
from apps.core.tasks import train_classifier_job, tune_classifier_job
from ml_core.errors import UserError
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier, write_toy_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def toy_scenario(tmp_path, tiny_encoder_path, settings):
    folder = write_toy_files(tmp_path / "toy")
    settings.ACTIVATION_MIN_EVAL_PER_CLASS = 10  # the toy test set has 10 texts of each label

    def register(**overrides):
        register_toy_classifier(folder, tiny_encoder_path, **overrides)
        return folder

    register()
    yield register
    unregister_scenario(TOY_SCENARIO)


def _train(params=None, user=None) -> Job:
    job = classifier_training_start(scenario=TOY_SCENARIO, created_by=user, params=params)
    assert job.kind == "core.train_classifier" and job.scenario == TOY_SCENARIO
    return job_run(job_id=job.pk, work=train_classifier_job.work, worker="test")


def test_training_job_registers_scores_and_activates_a_version(toy_scenario, admin_user):
    job = _train({"config": {"epochs": 2}}, user=admin_user)
    assert job.state == Job.State.SUCCEEDED, job.error
    version = ModelVersion.objects.get(scenario=TOY_SCENARIO)
    assert version.is_active and version.version == 1 and version.job_id == job.pk
    assert version.created_by == admin_user and version.base_model.endswith("tiny-encoder0")
    assert {"accuracy", "macro_f1", "ece", "temperature", "test_accuracy", "test_macro_f1", "test_n"} <= set(version.metrics)
    assert all(isinstance(v, (int, float)) for v in version.metrics.values())
    assert version.metrics["test_n"] == 30
    assert version.training_data_summary["config"]["epochs"] == 2
    assert job.result["model_version_id"] == version.pk and job.result["activated"] is True
    assert job.result["activation"].startswith("Activated: no version was active")
    assert [c["epoch"] for c in job.result["curves"]] == [0, 1, 2]
    assert job.metrics["method"] == "full" and job.metrics["test_n"] == 30
    assert "v1: accuracy" in job.message and "activated" in job.message

    reports = classifier_reports(version=version)
    assert reports["config"]["labels"] == ["neg", "neu", "pos"]
    assert reports["test"]["n"] == 30 and len(reports["test"]["per_class_by_f1"]) == 3
    assert sum(map(sum, reports["test"]["confusion_matrix"]["matrix"])) == 30
    assert (artifact_dir(version) / "evaluation_test.json").is_file()
    assert not (Path(artifact_dir(version)).parent.parent / ".checkpoints" / TOY_SCENARIO).exists()


def test_a_second_version_is_compared_with_the_active_one_on_the_test_set(toy_scenario):
    head = {"config": {"method": "head"}}  # seconds, and the comparison is the same for every method
    assert _train(head).state == Job.State.SUCCEEDED
    second = _train(head)
    assert second.state == Job.State.SUCCEEDED, second.error
    assert second.result["compared_with"] == "v1"
    v1, v2 = ModelVersion.objects.filter(scenario=TOY_SCENARIO).order_by("version")
    # Same data, same seed, same settings: the same answers, but 30 identical answers cannot show
    # that v2 is within ACTIVATION_MARGIN of v1 (test_activation.py has a set large enough).
    assert v2.metrics["test_macro_f1"] == pytest.approx(v1.metrics["test_macro_f1"])
    assert not v2.is_active and second.result["activated"] is False
    assert "not shown to be no worse than the active v1 on the same 30 texts" in second.result["activation"]

    third = _train({**head, "activate": False})
    assert third.result["activated"] is False
    assert third.result["activation"].startswith("Not activated: the job asked not to activate.")
    assert ModelVersion.objects.get(scenario=TOY_SCENARIO, is_active=True).version == 1


def test_bad_training_data_fails_the_job_with_the_row_and_registers_nothing(toy_scenario):
    folder = toy_scenario()
    (folder / "bad.csv").write_text("text,label\ngreat,pos\n,neg\n")
    job = _train({"train_file": "bad.csv"})
    assert job.state == Job.State.FAILED
    assert job.error == f"DataError: {folder / 'bad.csv'}, row 3: field 'text' is empty"
    assert not ModelVersion.objects.filter(scenario=TOY_SCENARIO).exists()


def test_bad_options_are_refused_before_a_job_is_queued(toy_scenario):
    with pytest.raises(UserError, match="Not started: method must be one of head, full, lora"):
        classifier_training_start(scenario=TOY_SCENARIO, params={"config": {"method": "prompt"}})
    assert not Job.objects.exists()


def test_cancelling_mid_training_stores_nothing(toy_scenario, settings, monkeypatch):
    from apps.core.services import classifiers

    holder = {}

    def never_reached(**kwargs):
        raise AssertionError("a cancelled training must not reach activation")

    monkeypatch.setattr(classifiers, "classifier_activation", never_reached)
    folder = toy_scenario()
    from apps.core.scenarios import get_scenario

    original = get_scenario(TOY_SCENARIO).classifier.training_data

    def data_then_cancel(params):
        Job.objects.filter(pk=holder["job"]).update(cancel_requested=True)  # the operator clicks Cancel
        return original(params)

    toy_scenario(training_data=data_then_cancel)
    job = classifier_training_start(scenario=TOY_SCENARIO)
    holder["job"] = job.pk
    job = job_run(job_id=job.pk, work=train_classifier_job.work)
    assert job.state == Job.State.CANCELLED
    assert not ModelVersion.objects.filter(scenario=TOY_SCENARIO).exists()
    scenario_dir = Path(settings.ARTIFACTS_ROOT) / TOY_SCENARIO
    assert not scenario_dir.exists() or not any(scenario_dir.iterdir())
    assert folder.exists()


def test_tuning_job_keeps_every_trial_and_activates_nothing(toy_scenario):
    job = classifier_tuning_start(scenario=TOY_SCENARIO, params={"trials": 3, "methods": ["head", "full"],
                                                                 "max_epochs": 1})
    assert job.kind == "core.tune_classifier"
    job = job_run(job_id=job.pk, work=tune_classifier_job.work)
    assert job.state == Job.State.SUCCEEDED, job.error
    trials = job.result["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert all(t["state"] == "complete" and 0 <= t["metrics"]["macro_f1"] <= 1 for t in trials)
    assert job.metrics["trials"] == 3 and job.result["best"]["number"] == job.metrics["best_trial"]
    assert "nothing was activated" in job.message
    assert not ModelVersion.objects.filter(scenario=TOY_SCENARIO).exists()
    json.dumps(job.result)  # plain JSON


def test_only_classifier_scenarios_can_be_trained():
    with pytest.raises(UserError, match="unknown scenario 'nope.nothing'"):
        classifier_training_start(scenario="nope.nothing")
