"""/finance/models/ offers 'Distil from a stronger teacher' only when the large teacher encoder is
installed (`make models-large`); choosing it queues the distillation job with the form's method and
epochs for the teacher (issue 20)."""
import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.models import Job

from .conftest import sentence

pytestmark = pytest.mark.django_db
OPTION = "Distil from a stronger teacher"


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("ML_MODELS_DIR", str(folder))
    return folder


def upload_labelled_set(admin_client) -> None:
    rows = "\n".join(f"{sentence(label, n)}@{label}" for n in range(6) for label in ("negative", "neutral", "positive"))
    response = admin_client.post("/finance/models/sets/", {
        "file": SimpleUploadedFile("Sentences_Test.txt", rows.encode("latin-1")), "role": "train", "name": "toy"})
    assert response.status_code == 302


def test_without_the_large_encoder_the_option_is_not_offered_and_is_refused(admin_client, models_dir):
    assert OPTION not in admin_client.get("/finance/models/").content.decode()
    upload_labelled_set(admin_client)
    response = admin_client.post("/finance/models/retrain/sentiment/", {"method": "head", "epochs": "1",
                                                                        "distil": "on"}, follow=True)
    assert "make models-large" in response.content.decode()
    assert not Job.objects.filter(kind="core.train_distilled_classifier").exists()


def test_with_the_large_encoder_installed_the_option_queues_the_distillation_job(admin_client, models_dir,
                                                                                tiny_encoder_path):
    # An installed large model is a complete folder with its install record (ml_core.large_models);
    # the tiny encoder stands in for all-mpnet-base-v2's weights.
    installed = models_dir / "all-mpnet-base-v2"
    shutil.copytree(tiny_encoder_path, installed)
    (installed / "large_model.json").write_text("{}")
    page = admin_client.get("/finance/models/").content.decode()
    assert OPTION in page and "train a teacher on all-mpnet-base-v2" in page
    assert "on up to 20,000 of the newest documents the monitor has read" in page
    upload_labelled_set(admin_client)

    response = admin_client.post("/finance/models/retrain/sentiment/", {"method": "head", "epochs": "2",
                                                                        "distil": "on"})
    job = Job.objects.get(kind="core.train_distilled_classifier")
    assert response["Location"] == f"/jobs/{job.pk}/" and job.scenario == "finance_sentiment.sentiment"
    assert job.params == {"teacher_method": "head", "teacher_epochs": 2}
    admin_client.post("/finance/models/retrain/sentiment/", {"method": "head", "epochs": "1"})
    assert Job.objects.filter(kind="core.train_classifier").count() == 1  # without the box: ordinary training
