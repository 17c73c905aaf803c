"""Answer a customer's message, keep the conversation, take feedback, hand over to people.

Every message is masked for personal data before it is stored. Every assistant reply records
the intent, the confidence, the source (template, retrieval, clarify, generated, handoff,
smalltalk, open), the entries used, the model version and the time it took.

Questions go to the review queue (needs_review, with its reason) when the assistant could not
answer them (handed over unsure, unclear, outside the knowledge base, low confidence), and when
an answer probably missed whatever its confidence: the customer marked it not helpful, or asked
the same question again in other words right after it (CUSTOMER_SERVICE_REPHRASE_SIMILARITY within
CUSTOMER_SERVICE_REPHRASE_WINDOW_S).
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ml_core.trust import mask_pii

from .. import cascade
from ..models import AssistantSettings, Conversation, Message, Site
from ..person_request import person_request_phrase
from ..placeholders import context_from_message, render_answer
from ..scenario import SCENARIO
from ..serving import assistant, normalise, vector_from_bytes, vector_to_bytes
from .brief_cache import BriefCache
from .smalltalk import smalltalk_answer, smalltalk_match

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
HANDOFF_TEXT = ("I'm not sure I can answer that well, so I've asked a colleague to join. "
                "They will reply here shortly.")
REQUESTED_HANDOFF_TEXT = "I've asked a colleague to join the conversation. They will reply here shortly."
SETTINGS_TTL_S = 2.0
TOPICS_SHOWN = 5


class ChatError(Exception):
    """The message cannot be handled as sent (unknown conversation, invalid choice...)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --- settings, cached briefly per process -------------------------------------------------------
_settings = BriefCache(lambda: AssistantSettings.objects.get_or_create(pk=1)[0], SETTINGS_TTL_S)


def assistant_settings(fresh: bool = False) -> AssistantSettings:
    return _settings.get(fresh)


def assistant_settings_forget() -> None:
    """Drop this process's cached settings (tests; the cache also expires by itself)."""
    _settings.forget()


def assistant_settings_update(*, values: dict[str, Any], updated_by=None) -> AssistantSettings:
    """Change the cascade's settings (validated, audited as a threshold change)."""
    from apps.core.models import AuditEvent
    from apps.core.services.audit import audit_record


    found = assistant_settings(fresh=True)
    changed = {name: {"from": getattr(found, name), "to": value} for name, value in values.items()
               if getattr(found, name) != value}
    for name, value in values.items():
        setattr(found, name, value)
    found.full_clean()
    if not changed:
        return found
    found.updated_by = updated_by if (updated_by and updated_by.is_authenticated) else None
    with transaction.atomic():
        found.save()
        audit_record(action=AuditEvent.Action.THRESHOLD_CHANGE, scenario=SCENARIO,
                     target="customer service assistant settings", details={"changed": changed}, actor=updated_by)
    assistant_settings(fresh=True)
    return found


def assistant_policy_read() -> dict[str, Any]:
    """The cascade's settings as the suite's control page shows every scenario's policy."""
    found = assistant_settings(fresh=True)
    return {"confidence_threshold": found.answer_threshold, "low_confidence_action": "handoff",
            "handoff_labels": list(found.handoff_intents or [])}


def assistant_policy_write(values: dict[str, Any], actor) -> None:
    """From the control page: the threshold is the answer threshold, the handoff labels the handoff
    intents; unsure messages always end with a person (after search and a clarifying question)."""
    assistant_settings_update(values={"answer_threshold": values["confidence_threshold"],
                                      "handoff_intents": list(values.get("handoff_labels") or [])},
                              updated_by=actor)


def conversations_delete_before(cutoff) -> int:
    """Data retention: conversations whose last message is older than `cutoff`, with their messages."""
    old = Conversation.objects.filter(last_message_at__lt=cutoff)
    count = old.count()
    old.delete()
    return count


def thresholds_of(found: AssistantSettings) -> cascade.Thresholds:
    return cascade.Thresholds(answer=found.answer_threshold, clarify_margin=found.clarify_margin,
                              handoff_intents=frozenset(found.handoff_intents or ()))


# --- replies -------------------------------------------------------------------------------------
def entry_refs(entry_ids: list[int]) -> list[dict]:
    entries = assistant().index.entries
    return [{"id": i, "title": entries[i].title} for i in entry_ids if i in entries]


def message_dict(message: Message) -> dict[str, Any]:
    """A message as the widget and the API show it."""
    data: dict[str, Any] = {"id": message.pk, "role": message.role, "text": message.text,
                            "created_at": message.created_at.isoformat()}
    if message.role == Message.Role.ASSISTANT:
        data.update(intent=message.intent, confidence=message.confidence, source=message.source,
                    entries=entry_refs(message.entries), feedback=message.feedback or None)
    return data


def reply_dict(message: Message) -> dict[str, Any]:
    return {"id": message.pk, "text": message.text, "intent": message.intent,
            "confidence": None if message.confidence is None else round(message.confidence, 4),
            "source": message.source, "entries": entry_refs(message.entries)}


@dataclass
class Composed:
    text: str
    source: str
    entry_ids: list[int]


def kb_topics(found: AssistantSettings, limit: int = TOPICS_SHOWN) -> str:
    """The knowledge base's main topics in words: the titles of the entries with the most example
    questions (the handoff intents left out), e.g. “Where is my order?”, “Returns” and “Refunds”."""
    handoff = set(found.handoff_intents or ())
    entries = sorted((e for e in assistant().index.entries.values() if e.intent not in handoff),
                     key=lambda e: (-e.examples, e.title.lower(), e.id))
    titles = list(dict.fromkeys(f"“{e.title.rstrip('.')}”" for e in entries))
    if not titles:
        return "questions about our shop"
    shown = titles[:limit]
    text = ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1]
    return text + (" and more" if len(titles) > limit else "") if len(shown) > 1 else shown[0]


def _compose(decision: cascade.Decision, *, question: str, hits: list[cascade.Hit], conversation: Conversation,
             site: Site, found: AssistantSettings) -> Composed:
    entries = assistant().index.entries
    values = (conversation.context, site.placeholder_values)
    if decision.source in (cascade.SMALLTALK, cascade.OPEN):
        template = smalltalk_answer(decision.intent) if decision.source == cascade.SMALLTALK else found.open_intent_reply
        topics = {"Topics": kb_topics(found)} if "topics" in template.lower() else {}
        return Composed(render_answer(template, topics, *values), decision.source, [])
    if decision.source == cascade.CLARIFY:
        a, b = (entries[i].title for i in decision.entry_ids[:2])
        return Composed(f"I want to make sure I help with the right thing: do you mean “{a}” or “{b}”?",
                        cascade.CLARIFY, decision.entry_ids)
    if decision.source == cascade.HANDOFF:
        if decision.entry_ids:
            return Composed(render_answer(entries[decision.entry_ids[0]].answer, *values), cascade.HANDOFF,
                            decision.entry_ids)
        return Composed(HANDOFF_TEXT if decision.review else REQUESTED_HANDOFF_TEXT, cascade.HANDOFF, [])
    entry = entries[decision.entry_ids[0]]
    if found.generation_enabled:
        generated = _generate(question, entry=entry, hits=hits, values=values, found=found)
        if generated is not None:
            return generated
    return Composed(render_answer(entry.answer, *values), decision.source, decision.entry_ids)


def _generate(question: str, *, entry, hits: list[cascade.Hit], values, found: AssistantSettings) -> Composed | None:
    """A short answer composed by the small instruction model, or None for the entry's own answer.

    The guard sits on both sides: abusive or prompt-injection input never reaches the model, and
    an answer that cites none of the entries it was given (or leaks the instructions, or is
    abusive) is dropped for the retrieved answer.
    """
    from ml_core.trust import check_input, check_output

    from ..generation import SYSTEM_PROMPT, SourceEntry, answer_composer, with_citations

    refused = check_input(question)
    if not refused.allowed:
        log.warning("guard: input not sent to the generative model (%s)", "; ".join(refused.details))
        return None
    entries = assistant().index.entries
    chosen = [entry.id] + [h.entry_id for h in hits if h.entry_id != entry.id][:4]
    sources = [SourceEntry(i, entries[i].title, render_answer(entries[i].answer, *values))
               for i in dict.fromkeys(chosen) if i in entries][:2]
    try:
        text = answer_composer().compose(question, sources, max_new_tokens=found.generation_max_tokens)
    except Exception:  # a reply from the entry itself beats no reply
        log.exception("answer generation failed; replying with the entry's answer")
        return None
    verdict = check_output(text, n_sources=len(sources), system_prompt=SYSTEM_PROMPT)
    if not verdict.allowed:
        log.warning("guard: generated answer dropped for the retrieved one (%s)", "; ".join(verdict.details))
        return None
    return Composed(with_citations(text, sources, verdict.cited), cascade.GENERATED,
                    [sources[n - 1].id for n in verdict.cited])


def _conversation_for(*, site: Site, conversation_id, create: bool = True) -> Conversation:
    if conversation_id:
        try:
            wanted = uuid.UUID(str(conversation_id))
        except ValueError:
            raise ChatError("conversation_id is not a UUID")
        found = Conversation.objects.filter(pk=wanted, site=site).first()
        if found is None:
            raise ChatError("unknown conversation for this site", status=404)
        return found
    if not create:
        raise ChatError("conversation_id is required")
    return Conversation(site=site)


def _decide_choice(*, conversation: Conversation, choice: int) -> cascade.Decision:
    """The customer picked one of the entries a clarifying question offered."""
    offered = (Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT)
               .order_by("-id").values_list("source", "entries").first())
    if not offered or offered[0] != cascade.CLARIFY or choice not in offered[1]:
        raise ChatError("choice is not one of the options the last question offered")
    entry = assistant().index.entries.get(choice)
    if entry is None:
        raise ChatError("that entry is no longer available", status=409)
    return cascade.Decision(cascade.TEMPLATE, entry.intent, 1.0, [choice], "the customer chose this entry")


def chat_message_handle(*, site: Site, text: str, conversation_id=None, choice: int | None = None,
                        context: dict | None = None) -> dict[str, Any]:
    """Store the customer's message and the reply; return the API's response body."""
    started = time.perf_counter()
    text = (text or "").strip()
    if not text:
        raise ChatError("text is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ChatError(f"text is longer than {MAX_MESSAGE_CHARS} characters")
    conversation = _conversation_for(site=site, conversation_id=conversation_id)
    masked = mask_pii(text).text
    learnt = {k: v for k, v in context_from_message(text).items() if not mask_pii(v).findings}
    passed = {str(k)[:80]: str(v)[:200] for k, v in (context or {}).items()
              if isinstance(v, (str, int)) and not mask_pii(str(v)).findings}

    found = assistant_settings()
    with_person = conversation.status in (Conversation.Status.WAITING, Conversation.Status.OPERATOR)
    understanding = decision = composed = None
    if not with_person:
        understanding = assistant().understand(masked, refusal_rate=found.open_intent_refusal_rate)
        conversation.context = {**conversation.context, **passed, **learnt}
        if choice is not None:
            decision = _decide_choice(conversation=conversation, choice=choice)
        else:
            calibration = assistant().index.ensure_calibrated(found.retrieval_precision)
            decision = cascade.decide(intents=understanding.intents, hits=understanding.hits,
                                      thresholds=thresholds_of(found), retrieval=calibration,
                                      main_entry=assistant().index.main_entry,
                                      signals=_signals(masked, understanding))
        composed = _compose(decision, question=masked, hits=understanding.hits, conversation=conversation,
                            site=site, found=found)

    now = timezone.now()
    handoff = decision is not None and decision.source == cascade.HANDOFF
    updates: dict[str, Any] = {"last_message_at": now, "context": conversation.context}
    if handoff:
        updates.update(status=Conversation.Status.WAITING, handoff_reason=decision.reason[:200], handoff_at=now)
    elif conversation.status == Conversation.Status.CLOSED:
        updates["status"] = Conversation.Status.BOT
    new_conversation = conversation._state.adding
    with transaction.atomic():
        if new_conversation:  # one INSERT with the final values instead of an INSERT and an UPDATE
            for name, value in updates.items():
                setattr(conversation, name, value)
            conversation.save()
        question = Message(conversation=conversation, role=Message.Role.CUSTOMER, text=masked)
        reply = None
        if decision is not None:
            question.intent = decision.intent
            question.confidence = decision.confidence
            question.needs_review = bool(decision.review)
            question.review_reason = decision.review
            # Every understood question keeps its vector: the review queue groups by it, and the
            # next question of the conversation is compared with it (asked again?).
            question.embedding = vector_to_bytes(understanding.unit_embedding)
            if not new_conversation and choice is None and decision.source != cascade.SMALLTALK:
                _flag_if_asked_again(conversation, understanding.unit_embedding, now)
        question.save()
        if decision is not None:
            reply = Message.objects.create(
                conversation=conversation, role=Message.Role.ASSISTANT, text=composed.text, reply_to=question,
                intent=decision.intent, confidence=decision.confidence, source=composed.source,
                entries=list(composed.entry_ids), alternatives=[[i, round(p, 4)] for i, p in understanding.intents],
                model_version=understanding.model_version,
                latency_ms=round((time.perf_counter() - started) * 1000, 2))
        if not new_conversation:
            Conversation.objects.filter(pk=conversation.pk).update(**updates)
            for name, value in updates.items():
                setattr(conversation, name, value)
        if understanding is not None and understanding.intents and choice is None:
            _shadow_offer(question, understanding)
    return {"conversation_id": str(conversation.pk), "status": conversation.status, "message_id": question.pk,
            "reply": reply_dict(reply) if reply else None}


def _signals(text: str, understanding) -> cascade.Signals:
    """The checks before the intent model: a request for a person, small talk, open intent."""
    phrase = person_request_phrase(text)
    if phrase:
        return cascade.Signals(person_request=phrase)
    best_kb = understanding.hits[0].score if understanding.hits else 0.0
    small = smalltalk_match(text, understanding.unit_embedding, best_kb)
    if small is not None:
        return cascade.Signals(smalltalk_kind=small.kind, smalltalk_score=small.score)
    return cascade.Signals(open_score=understanding.open_score, open_threshold=understanding.open_threshold)


def _flag_if_asked_again(conversation: Conversation, vector, now) -> None:
    """The customer asks the previous question again in other words, right after an answer: that
    answer probably missed, so the previous question goes to the review queue, whatever its confidence."""
    previous = (Message.objects.filter(conversation=conversation, role=Message.Role.CUSTOMER)
                .exclude(embedding=None).order_by("-id")
                .values("id", "created_at", "embedding", "needs_review", "replies__source").first())
    if previous is None or previous["needs_review"] or previous["replies__source"] not in cascade.ANSWER_SOURCES:
        return
    if now - previous["created_at"] > timedelta(seconds=settings.CUSTOMER_SERVICE_REPHRASE_WINDOW_S):
        return
    # Measured with all-MiniLM-L6-v2 on Bitext: 0.17 % of pairs of questions of different intents
    # reach 0.7 (the default), and a fifth of the pairs of one intent, which rephrasings beat.
    similarity = float(vector_from_bytes(previous["embedding"]) @ vector)
    if similarity >= settings.CUSTOMER_SERVICE_REPHRASE_SIMILARITY:
        Message.objects.filter(pk=previous["id"]).update(needs_review=True,
                                                         review_reason=Message.ReviewReason.ASKED_AGAIN)


SHADOW_SUBJECT = "cs-message"


def _shadow_offer(question: Message, understanding) -> None:
    """What the active intent model said, for a running shadow deployment to compare (a cached
    lookup when none runs; the candidate scores it later in the inference worker)."""
    from apps.core.services.shadow import shadow_observe

    intent, probability = understanding.intents[0]
    shadow_observe(scenario=SCENARIO, subject=f"{SHADOW_SUBJECT}:{question.pk}", text=question.text, label=intent,
                   confidence=probability, active_version_id=understanding.model_version_id)


def shadow_labels(subjects: list[str]) -> dict[str, str]:
    """The intents operators gave customer messages in the review queue: the shadow's truth."""
    ids = {int(s.rsplit(":", 1)[1]): s for s in subjects if s.startswith(f"{SHADOW_SUBJECT}:")}
    return {ids[pk]: label for pk, label in Message.objects.filter(pk__in=ids).exclude(labelled_intent="")
            .values_list("pk", "labelled_intent")}


def chat_handoff_request(*, site: Site, conversation_id) -> dict[str, Any]:
    """The customer asked for a person (the widget's button); only the holder of the conversation's
    random id can ask, for that conversation."""
    conversation = _conversation_for(site=site, conversation_id=conversation_id, create=False)
    reply = None
    with transaction.atomic():
        if conversation.status not in (Conversation.Status.WAITING, Conversation.Status.OPERATOR):
            now = timezone.now()
            reply = Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT,
                                           text=REQUESTED_HANDOFF_TEXT, source=cascade.HANDOFF, confidence=1.0)
            Conversation.objects.filter(pk=conversation.pk).update(
                status=Conversation.Status.WAITING, handoff_reason="the customer asked for a person",
                handoff_at=now, last_message_at=now)
            conversation.status = Conversation.Status.WAITING
    return {"conversation_id": str(conversation.pk), "status": conversation.status,
            "reply": reply_dict(reply) if reply else None}


def chat_feedback_record(*, site: Site, conversation_id, message_id: int, helpful: bool) -> dict[str, Any]:
    """The customer says whether a reply helped. Message ids are sequential, so the reply must belong
    to the conversation the caller holds (its random id is the customer's secret): "helpful" replies
    become training data, and nobody else may vote on them."""
    conversation = _conversation_for(site=site, conversation_id=conversation_id, create=False)
    reply = Message.objects.filter(pk=message_id, role=Message.Role.ASSISTANT, conversation=conversation).first()
    if reply is None:
        raise ChatError("unknown reply in this conversation", status=404)
    feedback = Message.Feedback.HELPFUL if helpful else Message.Feedback.NOT_HELPFUL
    with transaction.atomic():
        Message.objects.filter(pk=reply.pk).update(feedback=feedback, feedback_at=timezone.now())
        if reply.reply_to_id:
            Message.objects.filter(pk=reply.reply_to_id).update(
                needs_review=not helpful, review_reason="" if helpful else Message.ReviewReason.NOT_HELPFUL)
            if not helpful:
                _store_question_vector(reply.reply_to_id)
    return {"message_id": reply.pk, "feedback": feedback}


def _store_question_vector(message_id: int) -> None:
    """A question marked not helpful joins the review queue, which groups questions by their vectors."""
    from ..serving import embed_texts

    question = Message.objects.filter(pk=message_id, embedding=None).only("text").first()
    if question is not None:
        vector = normalise(embed_texts([question.text]))[0]
        Message.objects.filter(pk=message_id).update(embedding=vector_to_bytes(vector))


def conversation_history(*, site: Site, conversation_id, after: int | None = None) -> dict[str, Any]:
    conversation = _conversation_for(site=site, conversation_id=conversation_id, create=False)
    messages = conversation.messages.order_by("id")
    if after:
        messages = messages.filter(id__gt=after)
    return {"conversation_id": str(conversation.pk), "status": conversation.status,
            "messages": [message_dict(m) for m in messages[:200]]}
