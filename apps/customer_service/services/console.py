"""What operators do in the console: take conversations, reply, hand back, label, teach the KB."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ml_core.trust import mask_pii

from ..models import Conversation, KBEntry, KBExample, Message
from .kb import EntryFields, KBError, kb_entry_create, kb_example_add, normalise_intent


class ConsoleError(ValueError):
    """An operator action that cannot be done; the message says why."""


def _operator(user):
    return user if (user and user.is_authenticated) else None


def conversation_take(*, conversation: Conversation, operator) -> Conversation:
    """The operator takes the conversation over from the assistant or the queue."""
    if conversation.status == Conversation.Status.OPERATOR and conversation.assigned_to_id not in (None, operator.pk):
        raise ConsoleError(f"{conversation.assigned_to} is already answering this conversation")
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.OPERATOR,
                                                           assigned_to=_operator(operator))
    conversation.refresh_from_db()
    return conversation


@transaction.atomic
def conversation_reply(*, conversation: Conversation, operator, text: str) -> Message:
    text = (text or "").strip()
    if not text:
        raise ConsoleError("the reply is empty")
    if len(text) > 4000:
        raise ConsoleError("the reply is longer than 4000 characters")
    if conversation.status == Conversation.Status.OPERATOR and conversation.assigned_to_id not in (None, operator.pk):
        raise ConsoleError(f"{conversation.assigned_to} is answering this conversation")
    message = Message.objects.create(conversation=conversation, role=Message.Role.OPERATOR,
                                     text=mask_pii(text).text, author=_operator(operator))
    Conversation.objects.filter(pk=conversation.pk).update(
        status=Conversation.Status.OPERATOR, assigned_to=_operator(operator), last_message_at=timezone.now())
    return message


def conversation_release(*, conversation: Conversation) -> Conversation:
    """Hand the conversation back to the assistant."""
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.BOT, assigned_to=None)
    conversation.refresh_from_db()
    return conversation


def conversation_close(*, conversation: Conversation) -> Conversation:
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.CLOSED)
    conversation.refresh_from_db()
    return conversation


def message_label(*, message: Message, intent: str) -> Message:
    """An operator confirms a customer question's intent (used by the next retraining)."""
    if message.role != Message.Role.CUSTOMER:
        raise ConsoleError("only customer questions are labelled")
    try:
        label = normalise_intent(intent)
    except KBError as exc:
        raise ConsoleError(str(exc)) from exc
    Message.objects.filter(pk=message.pk).update(labelled_intent=label, needs_review=False)
    message.refresh_from_db()
    return message


def review_dismiss(*, message_ids: list[int]) -> int:
    return Message.objects.filter(pk__in=message_ids, role=Message.Role.CUSTOMER).update(needs_review=False)


def operator_reply_to(question: Message) -> Message | None:
    """The first operator message after a customer question in its conversation."""
    return (Message.objects.filter(conversation_id=question.conversation_id, role=Message.Role.OPERATOR,
                                   id__gt=question.pk).order_by("id").first())


@transaction.atomic
def kb_example_from_questions(*, questions: list[Message], entry: KBEntry | None = None,
                              new_entry: EntryFields | None = None, operator=None) -> KBEntry:
    """Turn customer questions into example questions of an entry (an existing one, or a new one
    answered with the operator's reply); the questions are labelled with the entry's intent."""
    if not questions:
        raise ConsoleError("no question selected")
    if any(q.role != Message.Role.CUSTOMER for q in questions):
        raise ConsoleError("only customer questions become example questions")
    if (entry is None) == (new_entry is None):
        raise ConsoleError("choose an existing entry or describe a new one")
    if entry is None:
        entry = kb_entry_create(fields=new_entry, questions=[q.text for q in questions],
                                source=KBExample.Source.CONVERSATION, created_by=operator)
    else:
        for question in questions:
            kb_example_add(entry=entry, text=question.text, source=KBExample.Source.CONVERSATION)
    Message.objects.filter(pk__in=[q.pk for q in questions]).update(labelled_intent=entry.intent,
                                                                     needs_review=False)
    return entry
