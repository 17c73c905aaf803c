"""Customer service's reads the console uses (apps/customer_service/selectors.py), against the
database: one conversation, its transcript, messages by id, knowledge-base entries, and sites (the
widget's key finds only an active site)."""
import uuid

import pytest

from apps.customer_service import selectors
from apps.customer_service.models import Conversation, KBEntry, Message, Site

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop() -> Site:
    return Site.objects.create(name="Shop", allowed_origins="https://shop.example.com")


def test_conversation_get_and_its_transcript_in_order(shop):
    conversation = Conversation.objects.create(site=shop)
    first = Message.objects.create(conversation=conversation, role=Message.Role.CUSTOMER, text="where is my order")
    second = Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, text="it ships today")
    found = selectors.conversation_get(conversation_id=conversation.pk)
    assert found == conversation and found.site == shop
    assert selectors.conversation_get(conversation_id=uuid.uuid4()) is None
    assert selectors.conversation_messages(conversation=conversation) == [first, second]
    assert selectors.message_get(pk=second.pk) == second and selectors.message_get(pk=second.pk + 100) is None
    assert selectors.message_list(ids=[first.pk, second.pk + 100]) == [first]


def test_kb_entry_choices_are_the_active_entries_by_intent_and_title():
    b = KBEntry.objects.create(title="Refund by card", answer="...", intent="refund")
    a = KBEntry.objects.create(title="Cancel", answer="...", intent="cancel_order")
    KBEntry.objects.create(title="Old refund", answer="...", intent="refund", is_active=False)
    assert list(selectors.kb_entry_choices()) == [a, b]
    assert selectors.kb_entry_get(pk=a.pk) == a and selectors.kb_entry_get(pk=a.pk + 100) is None


def test_the_widget_key_finds_only_an_active_site(shop):
    assert selectors.active_site_get(public_key=shop.public_key) == shop
    assert selectors.active_site_get(public_key="no-such-key") is None
    Site.objects.filter(pk=shop.pk).update(is_active=False)
    assert selectors.active_site_get(public_key=shop.public_key) is None
    assert selectors.site_get(pk=shop.pk) == shop and selectors.site_get(pk=shop.pk + 100) is None
    assert list(selectors.site_list()) == [shop]
