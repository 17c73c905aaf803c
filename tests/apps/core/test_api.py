import pytest
from rest_framework.test import APIClient

from apps.core.models import Job
from apps.core.services.jobs import job_create

pytestmark = pytest.mark.django_db


def _api(user=None) -> APIClient:
    client = APIClient()
    if user:
        client.force_authenticate(user)
    return client


def test_jobs_api_needs_a_role(outsider_user, operator_user):
    job_create(kind="test.steps")
    assert _api().get("/api/v1/jobs/").status_code == 403
    assert _api(outsider_user).get("/api/v1/jobs/").status_code == 403
    response = _api(operator_user).get("/api/v1/jobs/")
    assert response.status_code == 200 and response.json()["count"] == 1


def test_cancel_through_the_api(operator_user):
    job = job_create(kind="test.steps")
    response = _api(operator_user).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    again = _api(operator_user).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert again.status_code == 409 and "only queued or running" in again.json()["detail"]


def test_schema_is_served_and_lists_the_jobs_api(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/jobs/" in response.content


def test_models_api_filters_by_scenario(operator_user):
    response = _api(operator_user).get("/api/v1/models/?scenario=none")
    assert response.status_code == 200 and response.json()["results"] == []
    assert Job.objects.count() == 0
