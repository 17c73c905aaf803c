"""Pages: who may see what, and the forms behind the buttons (with CSRF enforced)."""
import pytest
from django.urls import reverse

from apps.core.models import Job, ModelVersion
from apps.core.services.jobs import job_claim, job_create
from apps.core.services.registry import BuiltArtifact, model_version_activate, model_version_create

pytestmark = pytest.mark.django_db

OPERATOR_PAGES = [
    "home", "job_list", "registry", "customer_service:index", "finance_sentiment:index",
    "recommendation:index",
]


def test_anonymous_visitors_are_sent_to_login(client):
    for name in OPERATOR_PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", OPERATOR_PAGES)
def test_a_user_without_a_role_is_refused(outsider_client, name):
    response = outsider_client.get(reverse(name))
    assert response.status_code == 403
    assert b"operators" in response.content  # says how to get access


@pytest.mark.parametrize("name", OPERATOR_PAGES)
def test_operators_and_admins_see_the_pages(operator_client, admin_client, name):
    assert operator_client.get(reverse(name)).status_code == 200
    assert admin_client.get(reverse(name)).status_code == 200


def test_home_links_the_three_apps_jobs_and_registry(operator_client):
    html = operator_client.get(reverse("home")).content.decode()
    for name in OPERATOR_PAGES[1:]:
        assert f'href="{reverse(name)}"' in html


def test_login_page_and_login(client, admin_user):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": admin_user.username, "password": "pw-alice-admin"})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_job_pages_show_progress_and_poll_while_running(operator_client):
    job = job_create(kind="test.steps", title="Steps")
    job_claim(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(progress=42, message="step 2/5")
    html = operator_client.get(reverse("job_list")).content.decode()
    assert 'aria-valuenow="42"' in html and "step 2/5" in html and 'hx-trigger="every 1s"' in html
    fragment = operator_client.get(reverse("job_detail", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and b'id="job-status"' in fragment.content
    assert b"<html" not in fragment.content


def test_operator_may_cancel_a_job_but_not_start_the_encoder_check(operator_client):
    job = job_create(kind="test.steps")
    response = operator_client.post(reverse("job_cancel", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert operator_client.post(reverse("encoder_check_start")).status_code == 403
    assert not Job.objects.filter(kind="core.encoder_check").exists()


def test_admin_starts_the_encoder_check_job(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(reverse("encoder_check_start"))
    job = Job.objects.get(kind="core.encoder_check")
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[job.pk])
    assert job.state == Job.State.QUEUED and job.created_by.username == "alice-admin"
    assert len(callbacks) == 1  # the task is sent only once the job row is committed


def test_forms_are_refused_without_a_csrf_token(csrf_admin_client):
    job = job_create(kind="test.steps")
    assert csrf_admin_client.post(reverse("job_cancel", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED
    # With the token a browser would send, the same form works.
    csrf_admin_client.get(reverse("job_list"))
    token = csrf_admin_client.cookies["csrftoken"].value
    response = csrf_admin_client.post(reverse("job_cancel", args=[job.pk]), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED


def _version(payload: str) -> ModelVersion:
    def build(folder):
        (folder / "w.txt").write_text(payload)
        return BuiltArtifact(metrics={"accuracy": 0.5})

    return model_version_create(scenario="tests.pages", build=build)


def test_only_admins_activate_from_the_registry_page(operator_client, admin_client):
    v1, v2 = _version("a"), _version("b")
    model_version_activate(version=v2)
    url = reverse("model_version_activate", args=[v1.pk])
    assert operator_client.post(url).status_code == 403
    assert b"Roll back to v1" in admin_client.get(reverse("registry")).content
    assert admin_client.post(url).status_code == 302
    v1.refresh_from_db()
    assert v1.is_active


def test_unknown_job_is_a_404(operator_client):
    import uuid

    assert operator_client.get(reverse("job_detail", args=[uuid.uuid4()])).status_code == 404
