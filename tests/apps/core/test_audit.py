"""Each audited action leaves an entry naming who, what and when; the trail is read-only."""
import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.core.services.jobs import job_cancel, job_create, job_start
from apps.core.services.registry import BuiltArtifact, model_version_activate, model_version_create
from apps.core.tasking import job_task

pytestmark = pytest.mark.django_db


def _version(scenario="tests.audit"):
    def build(folder):
        (folder / "w.txt").write_text("w")
        return BuiltArtifact()

    return model_version_create(scenario=scenario, build=build)


@job_task("tests.train_audited", queue="training")
def _train_audited(job, progress):
    return None


def test_activation_and_rollback_from_the_registry_page_are_audited(admin_client, admin_user):
    v1, v2 = _version(), _version()
    admin_client.post(reverse("model_version_activate", args=[v2.pk]))
    admin_client.post(reverse("model_version_activate", args=[v1.pk]))
    events = list(AuditEvent.objects.order_by("created_at"))
    assert [(e.action, e.target, e.actor) for e in events] == [
        ("model.activate", "v2", admin_user), ("model.rollback", "v1", admin_user)]
    assert events[1].details["previous"] == 2 and events[1].ip_address == "127.0.0.1"
    assert events[1].request_id


def test_activation_outside_a_request_is_by_the_system_or_the_named_actor(operator_user):
    model_version_activate(version=_version())
    model_version_activate(version=_version(), actor=operator_user)
    assert list(AuditEvent.objects.order_by("created_at").values_list("actor_name", flat=True)) == [
        "system", operator_user.username]


def test_starting_training_and_cancelling_jobs_are_audited(admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job = job_start(task="tests.train_audited", scenario="tests.audit", created_by=admin_user, params={"epochs": 3})
        job_start(task="core.encoder_check", created_by=admin_user)  # inference work: not audited
    job_cancel(job=job, actor=admin_user)
    actions = list(AuditEvent.objects.order_by("created_at").values_list("action", "details"))
    assert actions == [("model.retrain", {"kind": "tests.train_audited", "params": {"epochs": 3}}),
                       ("job.cancel", {"kind": "tests.train_audited", "title": "tests.train_audited"})]


def test_trail_is_read_only_and_exports_as_csv_which_is_audited_too(admin_client):
    job_cancel(job=job_create(kind="t"))
    event = AuditEvent.objects.get()
    changelist = reverse("admin:core_auditevent_changelist")
    assert admin_client.get(changelist).status_code == 200
    assert admin_client.post(reverse("admin:core_auditevent_delete", args=[event.pk])).status_code == 403
    response = admin_client.post(changelist, {"action": "export_csv", "_selected_action": [event.pk]})
    assert response["Content-Type"] == "text/csv"
    lines = response.content.decode().splitlines()
    assert lines[0] == "time,actor,action,scenario,target,details,ip_address,request_id"
    assert ",system,job.cancel," in lines[1]
    assert AuditEvent.objects.filter(action="data.export", actor_name="alice-admin").exists()


def test_unknown_actions_are_refused():
    from apps.core.services.audit import audit_record

    with pytest.raises(ValueError, match="unknown audit action"):
        audit_record(action="model.delete_everything")
