"""The console's label and teach forms go back only to a page of this site (issue 15: open
redirect through `next`); the helper itself is tested in tests/apps/core/test_safe_redirect.py."""
from __future__ import annotations

import pytest

from apps.customer_service.models import Conversation
from apps.customer_service.services.chat import chat_message_handle

pytestmark = pytest.mark.django_db

OFFSITE = ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"]


@pytest.fixture
def question(site, kb):
    result = chat_message_handle(site=site, text="where is my order")
    return Conversation.objects.get(pk=result["conversation_id"]).messages.get(role="customer")


@pytest.mark.parametrize("wanted", OFFSITE)
def test_label_goes_back_to_the_conversation_instead_of_an_offsite_next(operator_client, question, wanted):
    response = operator_client.post(f"/customer-service/messages/{question.pk}/label/",
                                    {"intent": "track_order", "next": wanted})
    assert response.status_code == 302
    assert response["Location"] == f"/customer-service/conversations/{question.conversation_id}/"
    question.refresh_from_db()
    assert question.labelled_intent == "track_order"


@pytest.mark.parametrize("wanted", OFFSITE)
def test_teach_goes_back_to_the_review_queue_instead_of_an_offsite_next(operator_client, question, wanted):
    taught = operator_client.post("/customer-service/teach/", {
        "questions": str(question.pk), "entry": "", "new_intent": "order_check", "new_title": "Order check",
        "new_answer": "Let me check that for you.", "next": wanted})
    assert taught.status_code == 302 and taught["Location"] == "/customer-service/review/"
    invalid = operator_client.post("/customer-service/teach/", {"questions": "", "next": wanted})
    assert invalid.status_code == 302 and invalid["Location"] == "/customer-service/review/"


def test_a_same_site_next_is_followed(operator_client, question):
    back = f"/customer-service/conversations/{question.conversation_id}/"
    labelled = operator_client.post(f"/customer-service/messages/{question.pk}/label/",
                                    {"intent": "track_order", "next": back})
    assert labelled["Location"] == back
    taught = operator_client.post("/customer-service/teach/", {
        "questions": str(question.pk), "entry": "", "new_intent": "order_check", "new_title": "Order check",
        "new_answer": "Let me check that for you.", "next": back})
    assert taught["Location"] == back
