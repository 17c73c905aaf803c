"""The back office: retrain and activate actions, for admins only."""
import pytest
from django.urls import reverse

from apps.core.models import Job, ModelVersion
from apps.core.scenarios import Scenario, register_scenario, unregister_scenario
from apps.core.services.jobs import job_create
from apps.core.services.registry import BuiltArtifact, model_version_activate, model_version_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def trainable_scenario():
    started = []

    def retrain(*, created_by, params):
        job = job_create(kind="tests.train_echo", scenario="tests.admin", created_by=created_by)
        started.append(job)
        return job

    register_scenario(Scenario(key="tests.admin", label="Test scenario", retrain=retrain))
    yield started
    unregister_scenario("tests.admin")


def _version(payload: str) -> ModelVersion:
    def build(folder):
        (folder / "w.txt").write_text(payload)
        return BuiltArtifact(metrics={"accuracy": 0.75})

    return model_version_create(scenario="tests.admin", build=build)


def test_admin_pages_open_for_both_roles(admin_client, operator_client):
    for client in (admin_client, operator_client):
        assert client.get(reverse("admin:index")).status_code == 200
        assert client.get(reverse("admin:core_job_changelist")).status_code == 200
        assert client.get(reverse("admin:core_modelversion_changelist")).status_code == 200


def test_outsider_cannot_enter_the_back_office(outsider_client, outsider_user):
    response = outsider_client.get(reverse("admin:core_modelversion_changelist"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    # Even marked as staff, a user without a role has no permission on anything.
    outsider_user.is_staff = True
    outsider_user.save()
    assert outsider_client.get(reverse("admin:core_modelversion_changelist")).status_code == 403
    assert b"core/job" not in outsider_client.get(reverse("admin:index")).content


def test_activate_is_one_click_for_admins(admin_client, trainable_scenario):
    v1, v2 = _version("a"), _version("b")
    model_version_activate(version=v2)
    page = admin_client.get(reverse("admin:core_modelversion_changelist")).content.decode()
    url = reverse("admin:core_modelversion_activate", args=[v1.pk])
    assert f'formaction="{url}"' in page
    response = admin_client.post(url)
    assert response.status_code == 302
    assert ModelVersion.objects.get(scenario="tests.admin", is_active=True) == v1


def test_operators_can_neither_activate_nor_retrain(operator_client, trainable_scenario):
    v1 = _version("a")
    page = operator_client.get(reverse("admin:core_modelversion_changelist")).content.decode()
    assert "formaction" not in page and "Retrain a scenario" not in page
    assert operator_client.post(reverse("admin:core_modelversion_activate", args=[v1.pk])).status_code == 403
    assert operator_client.get(reverse("admin:core_modelversion_retrain")).status_code == 403
    response = operator_client.post(reverse("admin:core_modelversion_changelist"), {
        "action": "activate_version", "_selected_action": [v1.pk]})
    v1.refresh_from_db()
    assert not v1.is_active and response.status_code in (200, 302)


def test_activate_action_on_a_selection(admin_client, trainable_scenario):
    v1 = _version("a")
    admin_client.post(reverse("admin:core_modelversion_changelist"), {
        "action": "activate_version", "_selected_action": [v1.pk]})
    v1.refresh_from_db()
    assert v1.is_active


def test_retrain_action_and_view_start_the_scenario_job(admin_client, trainable_scenario):
    v1 = _version("a")
    admin_client.post(reverse("admin:core_modelversion_changelist"), {
        "action": "retrain_scenario", "_selected_action": [v1.pk]})
    assert len(trainable_scenario) == 1
    page = admin_client.get(reverse("admin:core_modelversion_retrain"))
    assert b"Test scenario" in page.content
    response = admin_client.post(reverse("admin:core_modelversion_retrain"), {"scenario": "tests.admin"})
    job = trainable_scenario[-1]
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[job.pk])
    assert Job.objects.filter(kind="tests.train_echo").count() == 2


def test_jobs_can_be_cancelled_from_the_back_office(operator_client):
    job = job_create(kind="t")
    operator_client.post(reverse("admin:core_job_changelist"), {
        "action": "cancel_jobs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
