"""Asking for a person wins (issue 16, item 3): a message that asks for a human anywhere in it is
handed over even when another intent is likelier; the same words in other senses are not."""
from __future__ import annotations

import time

import pytest

from apps.core.services.registry import LoadedModel
from apps.customer_service.cascade import RetrievalCalibration
from apps.customer_service.models import Message
from apps.customer_service.person_request import asks_for_person, person_request_phrase
from apps.customer_service.services.chat import assistant_settings_update, chat_message_handle
from apps.customer_service.serving import assistant

# Written for these tests: requests for a person in many wordings, alone or after another question.
REQUESTS = [
    "my package arrived damaged, I need a person please",
    "can I talk to a real agent",
    "get me a human",
    "I want to speak with someone from support",
    "Human please!",
    "AGENT",
    "agent please",
    "connect me to an agent",
    "Put me through to a representative.",
    "I'd like to be transferred to an operator",
    "let me speak to a manager",
    "is there anyone I can talk to?",
    "can a human help me?",
    "can you get someone to call me back",
    "I'd rather chat with a person than a bot",
    "speak to agent",
    "I want a real human being to look at this",
    "escalate this to a supervisor",
    "talk to human",
    "i need to speak to someone",
    "Can I please talk with a live agent?",
    "This bot is useless, give me a real person",
    "I don't want a bot, I want a person",
    "transfer me",
    "is there a human I can talk to",
    "I want to talk to one of your staff",
    "connect me with a customer service agent",
    "i need help from a person",
    "your answers don't help, I need a human",
    "could someone from your team call me",
    "real person now",
    "Please let me chat to a member of staff",
    "The refund never arrived and I want to speak to a representative about it",
    "where is my order?? I need to talk to an actual person",
    "I'm so angry. Get me a human NOW",
    "how do I reach a human",
    "I need to contact a live agent",
    "not a bot, a real person please",
    "can I speak with a real person about my invoice",
    "please transfer my chat to a human agent",
]

# The same words in other senses, past requests, negations and questions about the assistant.
NOT_REQUESTS = [
    "personal details",
    "where can I update my personal information",
    "human resources department address",
    "what is the human resources email",
    "I spoke to an agent yesterday and nothing happened",
    "the agent said my refund is coming",
    "someone stole my package",
    "can someone tell me where my order is",
    "how do I get a refund for another person",
    "do you need a person to sign for the delivery?",
    "does someone need to be home for the delivery",
    "I don't want to talk to a person",
    "am I talking to a human?",
    "are you a real person?",
    "is this a bot or a person?",
    "the person who delivered my parcel was rude",
    "I ordered a gift for another person",
    "someone else used my card",
    "human error on my invoice",
    "what is a person's delivery limit",
    "can I add another person to my account",
    "my travel agent booked this",
    "how many people work there",
    "is it possible to ship to a different person",
    "do I need to speak to a representative to change my address?",
    "where is my order",
    "cancel my order",
    "I want a refund",
]


@pytest.mark.parametrize("text", REQUESTS)
def test_a_request_for_a_person_is_found_anywhere_in_the_message(text):
    assert asks_for_person(text), text


@pytest.mark.parametrize("text", NOT_REQUESTS)
def test_the_same_words_in_other_senses_are_not_a_request(text):
    assert person_request_phrase(text) == "", text


def test_the_phrase_found_is_the_request():
    assert person_request_phrase("My package arrived damaged, I need a person please") == "need a person"
    assert person_request_phrase("can I talk to a real agent") == "talk to a real agent"


class _Likelier:
    """The classifier is sure of another intent, as it was for the damaged package (track_order 0.98)."""

    labels = ["track_order", "get_refund"]
    open_detector = None

    def predict(self, text, embedding, top_k=3):
        return [("track_order", 0.98), ("get_refund", 0.01)][:top_k]


@pytest.fixture
def sure_of_track_order(kb, monkeypatch):
    loaded = LoadedModel(0, 99, "customer_service.intent", _Likelier(), time.time())
    monkeypatch.setattr(assistant().intent_models, "get", lambda: loaded)
    monkeypatch.setattr(assistant().index, "ensure_calibrated", lambda target: RetrievalCalibration(threshold=2.0))


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["my package arrived damaged, I need a person please", "can I talk to a real agent",
                                  "get me a human", "I want to speak with someone from support"])
def test_the_request_wins_over_a_likelier_intent_and_hands_over(site, kb, sure_of_track_order, text):
    result = chat_message_handle(site=site, text=text)
    reply = result["reply"]
    assert (reply["source"], result["status"]) == ("handoff", "waiting")
    # Answered with the handoff intent's entry, not the likelier intent's.
    assert reply["intent"] == "contact_human_agent" and reply["entries"][0]["id"] == kb["contact_human_agent"]
    question = Message.objects.get(pk=result["message_id"])
    assert not question.needs_review  # understood: the customer wants a person
    assert "asked for a person" in question.conversation.handoff_reason


@pytest.mark.django_db
def test_words_in_another_sense_are_answered_as_the_likelier_intent(site, kb, sure_of_track_order):
    reply = chat_message_handle(site=site, text="where do I change my personal details on the order")["reply"]
    assert (reply["source"], reply["intent"]) == ("template", "track_order")


@pytest.mark.django_db
def test_without_a_handoff_entry_the_request_still_reaches_a_person(site, kb, sure_of_track_order):
    assistant_settings_update(values={"handoff_intents": []})
    result = chat_message_handle(site=site, text="my package arrived damaged, I need a person please")
    assert (result["reply"]["source"], result["reply"]["entries"], result["status"]) == ("handoff", [], "waiting")
