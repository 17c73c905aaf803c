"""Assistant settings changed in the back office are audited like those changed in the console
(issue 15: the admin path left no audit event)."""
from __future__ import annotations

import pytest

from apps.core.models import AuditEvent
from apps.customer_service.models import DEFAULT_OPEN_INTENT_REPLY, AssistantSettings
from apps.customer_service.services.chat import assistant_settings

pytestmark = pytest.mark.django_db


def _form(**changes) -> dict:
    values = {"answer_threshold": "0.5", "clarify_margin": "0.15", "retrieval_precision": "0.9",
              "handoff_intents": '["contact_human_agent"]', "generation_max_tokens": "120",
              "open_intent_refusal_rate": "0.05", "open_intent_reply": DEFAULT_OPEN_INTENT_REPLY}
    values.update(changes)
    return values


def test_a_back_office_change_is_audited_with_what_changed(admin_client, admin_user):
    row = assistant_settings(fresh=True)
    url = f"/admin/customer_service/assistantsettings/{row.pk}/change/"
    response = admin_client.post(url, _form(answer_threshold="0.7", handoff_intents='["contact_human_agent", "complaint"]'))
    assert response.status_code == 302, response.content.decode()[:2000]

    row.refresh_from_db()
    assert (row.answer_threshold, row.handoff_intents, row.updated_by) == (
        0.7, ["contact_human_agent", "complaint"], admin_user)
    event = AuditEvent.objects.get()
    assert (event.action, event.target, event.actor, event.scenario) == (
        "threshold.change", "customer service assistant settings", admin_user, "customer_service.intent")
    assert event.details == {"changed": {
        "answer_threshold": {"from": 0.5, "to": 0.7},
        "handoff_intents": {"from": ["contact_human_agent"], "to": ["contact_human_agent", "complaint"]}}}

    # Saving again with nothing changed records nothing; an invalid value is refused and not stored.
    admin_client.post(url, _form(answer_threshold="0.7", handoff_intents='["contact_human_agent", "complaint"]'))
    assert AuditEvent.objects.count() == 1
    refused = admin_client.post(url, _form(answer_threshold="1.5"))
    assert refused.status_code == 200 and "must be between 0 (exclusive) and 1" in refused.content.decode()
    assert AssistantSettings.objects.get().answer_threshold == 0.7 and AuditEvent.objects.count() == 1


def test_the_console_and_the_back_office_record_the_same_event(admin_client):
    row = assistant_settings(fresh=True)
    admin_client.post("/customer-service/settings/", {
        "answer_threshold": "0.6", "clarify_margin": "0.15", "retrieval_precision": "0.9",
        "handoff_intents": "contact_human_agent", "generation_max_tokens": "120",
        "open_intent_refusal_rate": "0.05", "open_intent_reply": DEFAULT_OPEN_INTENT_REPLY})
    admin_client.post(f"/admin/customer_service/assistantsettings/{row.pk}/change/", _form(answer_threshold="0.65"))
    events = list(AuditEvent.objects.order_by("created_at").values_list("action", "target", "details"))
    assert events == [
        ("threshold.change", "customer service assistant settings",
         {"changed": {"answer_threshold": {"from": 0.5, "to": 0.6}}}),
        ("threshold.change", "customer service assistant settings",
         {"changed": {"answer_threshold": {"from": 0.6, "to": 0.65}}})]
