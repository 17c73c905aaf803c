"""The distillation job (issue 20) on tiny real models: a teacher (an existing version, or one the
job trains first) teaches a student on another backbone, which becomes a new version through the
registry and the activation policy; a job that could only fail is refused before it is queued."""
import pytest
from django.core.cache import cache

from apps.core.models import Job, ModelVersion
from apps.core.scenarios import unregister_scenario
from apps.core.services.classifiers import classifier_training_start
from apps.core.services.distillation import distillation_start
from apps.core.services.jobs import job_run
from apps.core.services.model_cards import model_card_markdown
from apps.core.services.registry import artifact_dir
from apps.core.tasks import train_classifier_job, train_distilled_classifier_job
from ml_core.errors import UserError
from ml_core.testing import build_tiny_encoder
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier, write_toy_files

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def toy(tmp_path, tiny_encoder_path, monkeypatch, settings):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    settings.ML_COMPRESS_AFTER_TRAINING = False
    monkeypatch.setenv("ML_MODELS_DIR", str(tmp_path / "no-large-models"))
    register_toy_classifier(write_toy_files(tmp_path / "toy", n_train=60, n_test=24), tiny_encoder_path)
    cache.clear()
    yield build_tiny_encoder(tmp_path / "student-encoder", hidden_size=16, layers=1, heads=2, seed=11)
    unregister_scenario(TOY_SCENARIO)
    torch.set_num_threads(threads)


def student_config(student_encoder) -> dict:
    return {"student_base": str(student_encoder), "max_length": 32, "device": "cpu", "teacher_batch_size": 32,
            "training": {"epochs": 2, "learning_rate": 1e-3, "head_learning_rate": 1e-2, "batch_size": 16, "seed": 5}}


def run(job: Job, work) -> Job:
    job = job_run(job_id=job.pk, work=work.work, worker="test")
    assert job.state == Job.State.SUCCEEDED, job.error
    return job


def test_a_version_teaches_a_student_that_becomes_a_new_version(toy):
    teacher_job = run(classifier_training_start(scenario=TOY_SCENARIO, params={"config": {"method": "head"}}),
                      train_classifier_job)
    teacher = ModelVersion.objects.get(pk=teacher_job.result["model_version_id"])
    job = distillation_start(scenario=TOY_SCENARIO, params={"teacher_version_id": teacher.pk,
                                                            "config": student_config(toy)})
    assert job.kind == "core.train_distilled_classifier"
    job = run(job, train_distilled_classifier_job)
    student = ModelVersion.objects.get(pk=job.result["model_version_id"])
    assert student.version == teacher.version + 1 and student.base_model == str(toy)
    assert "distilled from v1" in student.notes
    assert job.result["teacher"]["path"] == str(artifact_dir(teacher).resolve())
    assert job.result["transfer_set"]["labelled"] > 0 and job.result["activation"]
    assert 0 <= student.metrics["accuracy"] <= 1 and "test_accuracy" in student.metrics
    card = (artifact_dir(student) / "model_card.md").read_text()
    assert "## Distillation" in card and "| teacher |" in card and "| student |" in card
    assert "## Distillation" in model_card_markdown(version=student)


def test_without_a_version_the_job_trains_the_teacher_first(toy, tiny_encoder_path, settings):
    job = run(distillation_start(scenario=TOY_SCENARIO, params={
        "teacher_base": str(tiny_encoder_path), "teacher_method": "head", "config": student_config(toy)}),
        train_distilled_classifier_job)
    student = ModelVersion.objects.get(pk=job.result["model_version_id"])
    assert job.result["teacher"]["method"] == "head" and student.base_model == str(toy)
    assert ModelVersion.objects.filter(scenario=TOY_SCENARIO).count() == 1  # the teacher is not a version
    assert not list((settings.ARTIFACTS_ROOT / ".distillation").glob("*/teacher"))  # nor left behind


def test_a_job_that_could_only_fail_is_refused(toy):
    with pytest.raises(UserError, match="make models-large"):
        distillation_start(scenario=TOY_SCENARIO, params={"config": student_config(toy)})
    with pytest.raises(UserError, match="no version 999"):
        distillation_start(scenario=TOY_SCENARIO, params={"teacher_version_id": 999})
    with pytest.raises(UserError, match="teacher_method"):
        distillation_start(scenario=TOY_SCENARIO, params={"teacher_base": str(toy), "teacher_method": "magic",
                                                          "config": student_config(toy)})
    for bad in (-1, "many", 2.5, True, "²", 10**6):
        with pytest.raises(UserError, match="unlabelled_limit must be"):
            distillation_start(scenario=TOY_SCENARIO, params={"teacher_base": str(toy), "teacher_method": "head",
                                                              "config": student_config(toy), "unlabelled_limit": bad})
    assert not Job.objects.exists()


def test_the_texts_the_model_answered_join_the_transfer_set_unlabelled(toy, tmp_path, tiny_encoder_path):
    asked = []
    training_texts = {row.split(",")[0] for row in (tmp_path / "toy" / "train.csv").read_text().splitlines()[1:]}
    live = [f"stock {word} today number {i}" for i, word in enumerate(["up", "down", "flat"] * 10)]
    live += sorted(training_texts)[:5]  # already labelled: not counted twice

    def live_inputs(limit):
        asked.append(limit)
        return live[:limit]

    unregister_scenario(TOY_SCENARIO)
    register_toy_classifier(tmp_path / "toy", tiny_encoder_path, live_inputs=live_inputs)
    params = {"teacher_base": str(tiny_encoder_path), "teacher_method": "head", "config": student_config(toy)}
    job = run(distillation_start(scenario=TOY_SCENARIO, params={**params, "unlabelled_limit": 100}),
              train_distilled_classifier_job)
    transfer = job.result["transfer_set"]
    assert asked[0] == 100 and transfer["unlabelled_given"] == 35
    assert transfer["unlabelled"] == 30 and transfer["unlabelled_sources"] == [
        "the 35 newest texts Toy sentiment answered (labels unused)"]
    student = ModelVersion.objects.get(pk=job.result["model_version_id"])
    assert "30 unlabelled texts from `the 35 newest texts Toy sentiment answered" in model_card_markdown(version=student)

    job = run(distillation_start(scenario=TOY_SCENARIO, params={**params, "unlabelled_limit": "0"}),
              train_distilled_classifier_job)
    # (the activation policy asks live_inputs for its own sample; the job did not ask this time)
    assert job.result["transfer_set"]["unlabelled"] == 0 and asked.count(100) == 1 and 0 not in asked


def test_a_full_teacher_trains_with_the_teacher_recipe_unless_told_otherwise(toy, tiny_encoder_path, tmp_path):
    from types import SimpleNamespace

    from apps.core.services.distillation import TEACHER_RECIPE, _train_teacher
    from ml_core.data import stratified_split
    from ml_core.training import RECIPES
    from ml_core.training.model import read_artifact_config
    from tests.ml_core.test_training import toy_data

    train, valid = stratified_split(toy_data(60), test_fraction=0.25, seed=1)
    data = SimpleNamespace(train=train, valid=valid)
    folder = _train_teacher({"teacher_base": str(tiny_encoder_path), "teacher_config": {"max_length": 32}},
                            data, tmp_path / "teacher", lambda *a: None)
    used = read_artifact_config(folder).training_config
    recipe = RECIPES[TEACHER_RECIPE]
    assert used["train_top_layers"] == recipe["train_top_layers"] == 2 and used["epochs"] == recipe["epochs"]
    assert used["max_length"] == 32  # teacher_config wins over the recipe
    folder = _train_teacher({"teacher_base": str(tiny_encoder_path), "teacher_method": "head"},
                            data, tmp_path / "head", lambda *a: None)
    assert read_artifact_config(folder).training_config["train_top_layers"] == 0
