"""Feedback and handoff act only on the conversation the caller holds (issue 15, item 6).

Message ids are sequential and "helpful" replies become training data, so a vote names the
conversation (its random id is the customer's secret) and the reply must belong to it.
"""
from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from apps.customer_service.models import Conversation, Message, Site

from .conftest import ORIGIN, post_chat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()


def feedback(api, site, **body):
    return api.post("/api/v1/chat/feedback/", {"site_key": site.public_key, "helpful": True, **body},
                    format="json", HTTP_ORIGIN=ORIGIN)


def test_feedback_on_another_conversations_reply_is_refused_and_changes_nothing(api, site, kb):
    victim = post_chat(api, site, "how do I get a refund").json()
    attacker = post_chat(api, site, "where is my order").json()
    victim_reply = victim["reply"]["id"]

    refused = feedback(api, site, conversation_id=attacker["conversation_id"], message_id=victim_reply)
    assert refused.status_code == 404
    assert refused.json() == {"detail": "unknown reply in this conversation"}
    assert Message.objects.get(pk=victim_reply).feedback == ""
    assert Message.objects.get(pk=victim_reply).feedback_at is None

    # A made-up conversation id is no better, and leaving it out is a 400 naming the field.
    made_up = feedback(api, site, conversation_id=str(uuid.uuid4()), message_id=victim_reply)
    assert made_up.status_code == 404 and made_up.json() == {"detail": "unknown conversation for this site"}
    missing = feedback(api, site, message_id=victim_reply)
    assert missing.status_code == 400 and "conversation_id" in missing.json()
    assert Message.objects.get(pk=victim_reply).feedback == ""

    # The holder of the conversation votes on its own reply.
    own = feedback(api, site, conversation_id=victim["conversation_id"], message_id=victim_reply)
    assert own.status_code == 200 and own.json() == {"message_id": victim_reply, "feedback": "helpful"}
    assert Message.objects.get(pk=victim_reply).feedback == "helpful"


def test_a_conversation_of_another_site_cannot_be_voted_on_or_handed_over(api, site, kb):
    other_site = Site.objects.create(name="Other", allowed_origins=ORIGIN)
    theirs = post_chat(api, other_site, "how do I get a refund").json()

    voted = feedback(api, site, conversation_id=theirs["conversation_id"], message_id=theirs["reply"]["id"])
    assert voted.status_code == 404
    handed = api.post("/api/v1/chat/handoff/", {"site_key": site.public_key,
                                                "conversation_id": theirs["conversation_id"]},
                      format="json", HTTP_ORIGIN=ORIGIN)
    assert handed.status_code == 404 and handed.json() == {"detail": "unknown conversation for this site"}
    conversation = Conversation.objects.get(pk=theirs["conversation_id"])
    assert conversation.status == "bot" and conversation.handoff_at is None
    assert Message.objects.get(pk=theirs["reply"]["id"]).feedback == ""
    assert conversation.messages.count() == 2


def test_handoff_of_a_made_up_conversation_is_refused(api, site, kb):
    post_chat(api, site, "where is my order")
    refused = api.post("/api/v1/chat/handoff/", {"site_key": site.public_key, "conversation_id": str(uuid.uuid4())},
                       format="json", HTTP_ORIGIN=ORIGIN)
    assert refused.status_code == 404
    assert not Conversation.objects.filter(status="waiting").exists()
