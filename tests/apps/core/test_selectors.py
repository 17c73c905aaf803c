"""Core's reads the pages use (apps/core/selectors.py), against the database: the active job of a
scenario or kind, one model version (of a scenario), the control page's audit trail and shadows."""
import pytest

from apps.core import selectors
from apps.core.models import AuditEvent, Job
from apps.core.services.audit import audit_record
from apps.core.services.jobs import job_create
from apps.core.services.registry import BuiltArtifact, model_version_create

pytestmark = pytest.mark.django_db


def _version(scenario: str):
    def build(folder):
        (folder / "w.txt").write_text(scenario)
        return BuiltArtifact(metrics={"accuracy": 0.5})

    return model_version_create(scenario=scenario, build=build)


def test_active_job_get_finds_a_queued_or_running_job_of_the_scenario_or_kind():
    assert selectors.active_job_get(scenario="tests.a") is None
    done = job_create(kind="tests.train", scenario="tests.a")
    Job.objects.filter(pk=done.pk).update(state=Job.State.SUCCEEDED)
    assert selectors.active_job_get(scenario="tests.a") is None  # finished jobs are not active
    queued = job_create(kind="tests.train", scenario="tests.a")
    other = job_create(kind="tests.evaluate", scenario="tests.b")
    assert selectors.active_job_get(scenario="tests.a") == queued
    assert selectors.active_job_get(kind="tests.evaluate") == other
    assert selectors.active_job_get(scenario="tests.a", kind="tests.evaluate") is None


def test_model_version_get_is_none_when_missing_or_of_another_scenario():
    version = _version("tests.a")
    found = selectors.model_version_get(pk=version.pk)
    assert found == version and found.scenario == "tests.a"
    assert selectors.model_version_get(pk=version.pk, scenario="tests.a") == version
    assert selectors.model_version_get(pk=version.pk, scenario="tests.b") is None
    assert selectors.model_version_get(pk=version.pk + 1000) is None


def test_audit_event_list_filters_by_action_newest_first_and_limits():
    for n in range(4):
        audit_record(action=AuditEvent.Action.THRESHOLD_CHANGE, target=f"policy {n}", scenario="tests.a")
    audit_record(action=AuditEvent.Action.DATA_DELETE, target="labelled set x", scenario="tests.a")
    trail = list(selectors.audit_event_list(actions=[AuditEvent.Action.THRESHOLD_CHANGE], limit=3))
    assert [e.target for e in trail] == ["policy 3", "policy 2", "policy 1"]
    assert len(selectors.audit_event_list(limit=15)) == AuditEvent.objects.count()


def test_shadow_deployment_get_is_none_for_an_unknown_id():
    assert selectors.shadow_deployment_get(pk=4242) is None
    assert list(selectors.shadow_deployment_list()) == []
