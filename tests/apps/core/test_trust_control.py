"""Control: per-scenario thresholds and handoff policy (stores, validation, cache, audit), data
retention (real rows past their age deleted, newer kept, audited), and the control page's
permissions (operator reads, admin changes, outsider refused, CSRF enforced)."""
import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.core.models import (
    AuditEvent,
    Job,
    RetentionRule,
    ScenarioPolicy,
    ShadowDeployment,
    ShadowPrediction,
)
from apps.core.scenarios import unregister_scenario
from apps.core.services import control, retention
from apps.core.services.jobs import job_run
from apps.core.services.registry import BuiltArtifact, model_version_create
from apps.core.tasks import apply_retention_job
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier

pytestmark = pytest.mark.django_db


@pytest.fixture
def toy_scenario(tmp_path, tiny_encoder_path):
    register_toy_classifier(tmp_path, tiny_encoder_path)  # files are not needed: nothing trains here
    control.policy_cache_clear()
    yield TOY_SCENARIO
    unregister_scenario(TOY_SCENARIO)
    control._defaults.pop(TOY_SCENARIO, None)
    control._stores.pop(TOY_SCENARIO, None)
    control.policy_cache_clear()


def test_policy_defaults_updates_and_audit(toy_scenario, admin_user):
    assert control.scenario_policy(toy_scenario).stored_in == "defaults"
    control.register_policy_defaults(toy_scenario, confidence_threshold=0.7)
    policy = control.scenario_policy(toy_scenario)
    assert policy.confidence_threshold == 0.7 and policy.is_unsure(0.69) and not policy.is_unsure(0.7)

    policy = control.scenario_policy_update(scenario=toy_scenario, actor=admin_user, values={
        "confidence_threshold": "0.55", "low_confidence_action": "handoff", "handoff_labels": "refund, refund, angry"})
    assert (policy.confidence_threshold, policy.low_confidence_action, policy.handoff_labels) == (0.55, "handoff",
                                                                                                 ("angry", "refund"))
    row = ScenarioPolicy.objects.get(scenario=toy_scenario)
    assert row.updated_by == admin_user and row.handoff_labels == ["angry", "refund"]
    event = AuditEvent.objects.get(action="threshold.change")
    assert event.actor == admin_user and event.scenario == toy_scenario
    assert event.details["changed"] == {"confidence_threshold": {"from": 0.7, "to": 0.55},
                                        "low_confidence_action": {"from": "review", "to": "handoff"},
                                        "handoff_labels": {"from": [], "to": ["angry", "refund"]}}
    # Saving the same values again changes nothing and records nothing.
    control.scenario_policy_update(scenario=toy_scenario, actor=admin_user, values=policy.values())
    assert AuditEvent.objects.filter(action="threshold.change").count() == 1

    with pytest.raises(ValidationError) as error:
        control.scenario_policy_update(scenario=toy_scenario, values={
            "confidence_threshold": "1.5", "low_confidence_action": "shrug", "handoff_labels": [3]})
    assert set(error.value.message_dict) == {"confidence_threshold", "low_confidence_action", "handoff_labels"}
    assert ScenarioPolicy.objects.get(scenario=toy_scenario).confidence_threshold == 0.55  # nothing half-stored


def test_an_app_store_keeps_its_own_values_and_may_audit_itself(toy_scenario, admin_user):
    stored = {"confidence_threshold": 0.4, "low_confidence_action": "handoff", "handoff_labels": ["human"]}
    control.register_policy_store(toy_scenario, control.PolicyStore(
        read=lambda: dict(stored), write=lambda values, actor: stored.update(values), where="toy settings",
        actions=("handoff", "review")))
    policy = control.scenario_policy(toy_scenario)
    assert policy.stored_in == "toy settings" and policy.handoff_labels == ("human",)
    with pytest.raises(ValidationError, match="handoff, review"):
        control.scenario_policy_update(scenario=toy_scenario, values={**stored, "low_confidence_action": "abstain"})
    control.scenario_policy_update(scenario=toy_scenario, values={**stored, "confidence_threshold": 0.6},
                                   actor=admin_user)
    assert stored["confidence_threshold"] == 0.6 and not ScenarioPolicy.objects.exists()
    assert AuditEvent.objects.filter(action="threshold.change", target=f"{toy_scenario} policy").count() == 1


def test_control_page_permissions_and_csrf(toy_scenario, admin_client, operator_client, outsider_client,
                                           csrf_admin_client, client):
    url = reverse("control")
    page = operator_client.get(url)
    assert page.status_code == 200 and b"Toy sentiment" in page.content
    assert b'name="confidence_threshold"' not in page.content  # operators read, admins change
    assert b'name="confidence_threshold"' in admin_client.get(url).content
    assert outsider_client.get(url).status_code == 403
    assert client.get(url).status_code == 302  # anonymous: to the login page

    update = reverse("control_policy_update", args=[toy_scenario])
    values = {"confidence_threshold": "0.8", "low_confidence_action": "abstain", "handoff_labels": ""}
    assert operator_client.post(update, values).status_code == 403
    assert csrf_admin_client.post(update, values).status_code == 403  # no CSRF token
    response = admin_client.post(update, values, follow=True)
    assert response.redirect_chain[-1][0] == url and b"threshold 0.80" in response.content
    assert control.scenario_policy(toy_scenario, fresh=True).low_confidence_action == "abstain"
    response = admin_client.post(update, {**values, "confidence_threshold": "x"}, follow=True)
    assert b"confidence threshold must be a number between 0 and 1" in response.content


# --- retention --------------------------------------------------------------------------------
def _shadow_rows(ages_days: list[int]) -> list[ShadowPrediction]:
    version = model_version_create(scenario="tests.retention", build=lambda folder: (
        (folder / "w.txt").write_text("w"), BuiltArtifact())[1])
    deployment = ShadowDeployment.objects.create(scenario="tests.retention", candidate=version, is_running=False)
    rows = []
    for n, age in enumerate(ages_days):
        row = ShadowPrediction.objects.create(deployment=deployment, subject=f"s:{n}", text="t", active_label="a")
        ShadowPrediction.objects.filter(pk=row.pk).update(created_at=timezone.now() - dt.timedelta(days=age))
        rows.append(row)
    return rows


def test_retention_deletes_rows_past_their_age_keeps_newer_and_audits(admin_user):
    _old, _older, new = _shadow_rows([40, 400, 5])
    retention.retention_rule_update(kind="core.shadow_predictions", max_age_days=30, actor=admin_user)
    setting = AuditEvent.objects.get(action="settings.change")
    assert setting.details == {"kind": "core.shadow_predictions", "max_age_days": {"from": 90, "to": 30}}

    job = retention.retention_job_start(created_by=admin_user)
    job = job_run(job_id=job.pk, work=apply_retention_job.work, worker="test")
    assert job.state == Job.State.SUCCEEDED and job.metrics["core.shadow_predictions"] == 2
    assert list(ShadowPrediction.objects.values_list("pk", flat=True)) == [new.pk]
    deletion = AuditEvent.objects.get(action="data.delete")
    assert deletion.actor == admin_user and deletion.details["deleted"] == 2 and deletion.details["max_age_days"] == 30
    rule = RetentionRule.objects.get(kind="core.shadow_predictions")
    assert rule.last_deleted == 2 and rule.last_run_at is not None

    assert retention.retention_apply() == {"core.shadow_predictions": 0}  # nothing left to delete: no event
    assert AuditEvent.objects.filter(action="data.delete").count() == 1
    with pytest.raises(ValidationError):
        retention.retention_rule_update(kind="core.shadow_predictions", max_age_days=0)
    with pytest.raises(ValidationError):
        retention.retention_rule_update(kind="nothing.like.this", max_age_days=3)
    retention.retention_rule_update(kind="core.shadow_predictions", max_age_days=None)  # keep forever
    _shadow_rows([10_000])
    assert retention.retention_apply() == {}


def test_retention_page_actions_are_for_admins(admin_client, operator_client):
    kind_url = reverse("control_retention_update", args=["core.shadow_predictions"])
    assert operator_client.post(kind_url, {"max_age_days": "7"}).status_code == 403
    assert operator_client.post(reverse("control_retention_run")).status_code == 403
    response = admin_client.post(kind_url, {"max_age_days": "seven"}, follow=True)
    assert b"whole number of days" in response.content
    admin_client.post(kind_url, {"max_age_days": "7"})
    assert RetentionRule.objects.get(kind="core.shadow_predictions").max_age_days == 7
    response = admin_client.post(reverse("control_retention_run"))
    job = Job.objects.get(kind="core.apply_retention")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"


def test_the_control_page_lists_only_scenarios_whose_serving_reads_a_policy():
    listed = {row.scenario.key for row in control.policy_overview()}
    assert {"customer_service.intent", "finance_sentiment.sentiment"} <= listed
    # Topics are assigned by each topic's own threshold; recommenders have no confidence.
    assert "finance_sentiment.topics" not in listed and "recommendation.hybrid" not in listed
