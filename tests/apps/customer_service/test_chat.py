"""The chat service end to end in-process: masking, placeholders, the cascade's branches as the
customer sees them (controlled intent probabilities through the real cascade), operators."""
from __future__ import annotations

import time

import pytest

from apps.core.services.registry import LoadedModel
from apps.customer_service.cascade import RetrievalCalibration
from apps.customer_service.models import Conversation, Message
from apps.customer_service.placeholders import context_from_message, render_answer
from apps.customer_service.services.chat import (
    ChatError,
    assistant_settings_update,
    chat_message_handle,
    conversation_history,
)
from apps.customer_service.services.console import (
    conversation_reply,
    conversation_take,
    kb_example_from_questions,
)
from apps.customer_service.services.training import intent_training_data
from apps.customer_service.serving import assistant

pytestmark = pytest.mark.django_db


class FixedIntentModel:
    """Controlled predictions: the same probabilities for every message."""

    def __init__(self, intents):
        self.intents = intents
        self.labels = [i for i, _ in intents]

    def predict(self, text, embedding, top_k=3):
        return self.intents[:top_k]


@pytest.fixture
def controlled(kb, monkeypatch):
    """Set the intent probabilities; retrieval never answers (its threshold is out of reach)."""
    def set_intents(intents):
        loaded = LoadedModel(0, 99, "customer_service.intent", FixedIntentModel(intents), time.time())
        monkeypatch.setattr(assistant().intent_models, "get", lambda: loaded)
    monkeypatch.setattr(assistant().index, "ensure_calibrated", lambda target: RetrievalCalibration(threshold=2.0))
    return set_intents


def test_personal_data_is_masked_before_storage(site, kb, operator_user):
    result = chat_message_handle(site=site, text="My card 4111 1111 1111 1111 was charged, mail jane@example.com "
                                                 "or call +44 20 7946 0018")
    stored = Message.objects.get(pk=result["message_id"]).text
    assert stored == "My card [CARD] was charged, mail [EMAIL] or call [PHONE]"
    conversation = Conversation.objects.get(pk=result["conversation_id"])
    reply = conversation_reply(conversation=conversation, operator=operator_user,
                               text="I have written to jane@example.com")
    assert reply.text == "I have written to [EMAIL]"
    assert not Message.objects.filter(text__contains="4111").exists()
    assert not Message.objects.filter(text__contains="@").exists()


def test_template_answer_fills_placeholders_from_the_conversation(site, controlled):
    controlled([("track_order", 0.9), ("get_refund", 0.05)])
    result = chat_message_handle(site=site, text="where is order A-12345?")
    reply = result["reply"]
    assert (reply["source"], reply["intent"]) == ("template", "track_order")
    assert reply["text"] == "Follow order A-12345 under Order History."
    assert Conversation.objects.get(pk=result["conversation_id"]).context == {"Order Number": "A-12345"}


def test_clarify_offers_two_entries_and_the_choice_answers(site, kb, controlled):
    controlled([("get_refund", 0.42), ("track_order", 0.38)])
    first = chat_message_handle(site=site, text="my order and my money")
    reply = first["reply"]
    assert reply["source"] == "clarify"
    assert [e["id"] for e in reply["entries"]] == [kb["get_refund"], kb["track_order"]]
    assert "“Refunds” or “Where is my order?”" in reply["text"]
    assert Message.objects.get(pk=first["message_id"]).needs_review

    chosen = chat_message_handle(site=site, text="Refunds", conversation_id=first["conversation_id"],
                                 choice=kb["get_refund"])["reply"]
    assert (chosen["source"], chosen["intent"], chosen["confidence"]) == ("template", "get_refund", 1.0)
    assert "{{" not in chosen["text"] and "Call our customer support phone number." in chosen["text"]
    with pytest.raises(ChatError, match="not one of the options"):
        chat_message_handle(site=site, text="x", conversation_id=first["conversation_id"], choice=kb["get_refund"])


def test_low_confidence_hands_over_and_the_operator_reply_reaches_the_customer(site, controlled, operator_user):
    controlled([("track_order", 0.2), ("get_refund", 0.1)])
    first = chat_message_handle(site=site, text="my llama ate the parcel")
    assert first["reply"]["source"] == "handoff" and first["status"] == "waiting"
    question = Message.objects.get(pk=first["message_id"])
    assert question.needs_review and question.embedding is not None
    conversation = Conversation.objects.get(pk=first["conversation_id"])
    assert conversation.handoff_at is not None and "unsure" in conversation.handoff_reason

    conversation_take(conversation=conversation, operator=operator_user)
    conversation_reply(conversation=conversation, operator=operator_user, text="We will send a new parcel.")
    history = conversation_history(site=site, conversation_id=conversation.pk, after=first["reply"]["id"])
    assert history["status"] == "operator"
    assert [(m["role"], m["text"]) for m in history["messages"]] == [("operator", "We will send a new parcel.")]

    # The question and the operator's answer become a knowledge-base entry in one step; the next
    # retraining learns the question under the entry's intent.
    from apps.customer_service.services.kb import EntryFields

    entry = kb_example_from_questions(questions=[question], new_entry=EntryFields.clean(
        title="Damaged parcel", answer="We will send a new parcel.", intent="damaged_parcel"), operator=operator_user)
    question.refresh_from_db()
    assert (question.labelled_intent, question.needs_review) == ("damaged_parcel", False)
    assert list(entry.examples.values_list("text", "source")) == [("my llama ate the parcel", "conversation")]


def test_asking_for_a_person_hands_over_with_the_intents_answer(site, kb, controlled):
    controlled([("contact_human_agent", 0.93), ("track_order", 0.02)])
    result = chat_message_handle(site=site, text="human please")
    assert result["reply"]["source"] == "handoff" and result["reply"]["entries"][0]["id"] == kb["contact_human_agent"]
    assert result["status"] == "waiting"
    assert not Message.objects.get(pk=result["message_id"]).needs_review  # understood, just wants a person
    assistant_settings_update(values={"handoff_intents": []})
    # An intent that no longer goes to a person is answered like any other...
    other = chat_message_handle(site=site, text="which staff work at the help desk")
    assert other["reply"]["source"] == "template"
    # ...but a message that asks for a person still reaches one (no entry: the plain handoff text).
    asked = chat_message_handle(site=site, text="human please")
    assert (asked["reply"]["source"], asked["reply"]["entries"], asked["status"]) == ("handoff", [], "waiting")
    assert asked["reply"]["text"] == "I've asked a colleague to join the conversation. They will reply here shortly."


def test_training_data_is_the_knowledge_base_plus_labelled_history(site, kb, controlled):
    controlled([("track_order", 0.2), ("get_refund", 0.1)])
    result = chat_message_handle(site=site, text="my parcel is lost, call me on +44 20 7946 0018")
    Message.objects.filter(pk=result["message_id"]).update(labelled_intent="track_order")
    data = intent_training_data({})
    texts = data.train.texts + (data.test.texts if data.test else [])
    assert "my parcel is lost, call me on [PHONE]" in texts
    assert len(texts) == 21 and set(data.train.labels) == {"track_order", "get_refund", "reset_password",
                                                            "contact_human_agent"}
    assert data.train.stats["history_questions"] == 1


def test_placeholders_render_readably():
    text = "Log in to {{Website Name}}, open {{Order History}} and quote {{Order Number Anonymized}}."
    assert render_answer(text) == "Log in to our website, open Order History and quote your order number."
    assert render_answer(text, {"order id": "A-9"}, {"Website Name": "shop.example"}) == \
        "Log in to shop.example, open Order History and quote A-9."
    assert context_from_message("Invoice no. 8812 and purchase #ZX-551") == {"Order Number": "ZX-551",
                                                                             "Invoice Number": "8812"}
    assert context_from_message("order something nice") == {}


def test_the_control_page_policy_is_the_assistants_settings_and_retention_deletes_old_chats(site, kb, admin_user):
    from datetime import timedelta

    from django.utils import timezone

    from apps.core.models import AuditEvent
    from apps.core.services.control import scenario_policy, scenario_policy_update
    from apps.core.services.retention import retention_apply, retention_rule_update
    from apps.customer_service.models import AssistantSettings

    policy = scenario_policy("customer_service.intent", fresh=True)
    assert (policy.confidence_threshold, policy.handoff_labels) == (0.5, ("contact_human_agent",))
    scenario_policy_update(scenario="customer_service.intent", actor=admin_user, values={
        "confidence_threshold": 0.7, "low_confidence_action": "handoff", "handoff_labels": "complaint"})
    row = AssistantSettings.objects.get()
    assert (row.answer_threshold, row.handoff_intents) == (0.7, ["complaint"])
    event = AuditEvent.objects.get(action="threshold.change", scenario="customer_service.intent")
    assert event.details["changed"]["answer_threshold"] == {"from": 0.5, "to": 0.7}

    old = chat_message_handle(site=site, text="where is my order")
    chat_message_handle(site=site, text="I forgot my password")
    Conversation.objects.filter(pk=old["conversation_id"]).update(last_message_at=timezone.now() - timedelta(days=40))
    retention_rule_update(kind="customer_service.conversations", max_age_days=30, actor=admin_user)
    assert retention_apply(actor=admin_user)["customer_service.conversations"] == 1
    assert Conversation.objects.count() == 1 and Message.objects.count() == 2
