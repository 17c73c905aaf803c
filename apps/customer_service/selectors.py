"""Reads for the console: conversations, the handoff queue, questions to review, analytics."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import Conversation, KBEntry, Message, Site
from .serving import assistant, vector_from_bytes

LIVE_WINDOW = timedelta(minutes=30)
GROUP_DISTANCE = 0.35  # cosine distance under which questions count as the same question


def conversation_list(*, status: str | None = None, live_only: bool = False, limit: int = 50):
    rows = (Conversation.objects.select_related("site", "assigned_to")
            .annotate(n_messages=Count("messages")))
    if status:
        rows = rows.filter(status=status)
    if live_only:
        rows = rows.filter(last_message_at__gte=timezone.now() - LIVE_WINDOW).exclude(
            status=Conversation.Status.CLOSED)
    return list(rows.order_by("-last_message_at")[:limit])


def conversation_get(*, conversation_id) -> Conversation | None:
    return Conversation.objects.select_related("site", "assigned_to").filter(pk=conversation_id).first()


def conversation_messages(*, conversation: Conversation) -> list[Message]:
    """The transcript, oldest first, with each message's author."""
    return list(conversation.messages.select_related("author").order_by("id"))


def message_get(*, pk: int) -> Message | None:
    return Message.objects.filter(pk=pk).first()


def message_list(*, ids) -> list[Message]:
    return list(Message.objects.filter(pk__in=ids))


def handoff_queue(*, limit: int = 50):
    return list(Conversation.objects.select_related("site").filter(status=Conversation.Status.WAITING)
                .annotate(n_messages=Count("messages")).order_by("handoff_at")[:limit])


def last_customer_texts(conversations) -> dict:
    ids = [c.pk for c in conversations]
    latest: dict = {}
    for conversation_id, text in (Message.objects.filter(conversation_id__in=ids, role=Message.Role.CUSTOMER)
                                  .order_by("conversation_id", "-id").values_list("conversation_id", "text")):
        latest.setdefault(conversation_id, text)
    return latest


def kb_entry_list(*, query: str = "", intent: str = "", limit: int = 200):
    rows = KBEntry.objects.annotate(n_examples=Count("examples"))
    if query:
        rows = rows.filter(Q(title__icontains=query) | Q(answer__icontains=query) | Q(intent__icontains=query)
                           | Q(examples__text__icontains=query)).distinct()
    if intent:
        rows = rows.filter(intent=intent)
    return list(rows.order_by("intent", "title")[:limit])


def kb_entry_get(*, pk: int) -> KBEntry | None:
    return KBEntry.objects.filter(pk=pk).first()


def kb_entry_choices() -> QuerySet[KBEntry]:
    """The active entries an operator can add an example to, by intent and title."""
    return KBEntry.objects.filter(is_active=True).order_by("intent", "title")


def kb_intents() -> list[tuple[str, int]]:
    return list(KBEntry.objects.values_list("intent").annotate(n=Count("id")).order_by("intent"))


# --- questions to review, grouped by similarity -------------------------------------------------
@dataclass
class QuestionGroup:
    questions: list[Message]
    representative: Message
    suggested_intent: str = ""
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.questions)


def _reason(question: Message, reply: Message | None) -> str:
    if question.review_reason:
        return question.get_review_reason_display()
    if reply is None:
        return "no reply"
    if reply.feedback == Message.Feedback.NOT_HELPFUL:
        return "not helpful"
    if reply.source == "handoff":
        return "handed over"
    if reply.source == "clarify":
        return "unclear"
    return "low confidence"


def review_groups(*, limit: int = 400, distance: float = GROUP_DISTANCE, reason: str = "") -> list[QuestionGroup]:
    """Questions waiting for review (handed over, unsure, outside the knowledge base, asked again,
    not helpful), similar ones together, biggest group first (agglomerative clustering, average
    linkage on cosine distance); `reason` keeps only the questions of that review reason."""
    rows = Message.objects.filter(role=Message.Role.CUSTOMER, needs_review=True)
    if reason:
        rows = rows.filter(review_reason=reason)
    questions = list(rows.exclude(embedding=None).order_by("-id")[:limit])
    if not questions:
        return []
    replies = {m.reply_to_id: m for m in Message.objects.filter(reply_to__in=questions)}
    vectors = np.stack([vector_from_bytes(q.embedding) for q in questions])
    if len(questions) == 1:
        labels = np.zeros(1, dtype=int)
    else:
        from sklearn.cluster import AgglomerativeClustering

        labels = AgglomerativeClustering(n_clusters=None, distance_threshold=distance, metric="cosine",
                                         linkage="average").fit_predict(vectors)
    groups = []
    for label in sorted(set(labels.tolist())):
        members = [i for i, x in enumerate(labels) if x == label]
        centroid = vectors[members].mean(axis=0)
        medoid = members[int(np.argmax(vectors[members] @ centroid))]
        intents = Counter(questions[i].intent for i in members if questions[i].intent)
        reasons = Counter(_reason(questions[i], replies.get(questions[i].pk)) for i in members)
        groups.append(QuestionGroup([questions[i] for i in members], questions[medoid],
                                    intents.most_common(1)[0][0] if intents else "", dict(reasons)))
    groups.sort(key=lambda g: (-g.size, -g.representative.pk))
    return groups


# --- the open-intent check -----------------------------------------------------------------------
def open_intent_status(refusal_rate: float) -> dict | None:
    """The active version's open-intent detector as the settings page shows it: the threshold for
    `refusal_rate` and the calibration curve (refused share of held-out known questions vs
    threshold); None when the active version has no detector."""
    loaded = assistant().intent_models.get()
    detector = getattr(loaded.model, "open_detector", None) if loaded else None
    if detector is None:
        return None
    curve = detector.curve
    threshold = curve.threshold_for(refusal_rate) if refusal_rate > 0 else None
    return {"version": loaded.version, "threshold": threshold, "refusal_rate": refusal_rate, "n": curve.n,
            "score": curve.score, "method": detector.config.method,
            "sampling_error": curve.sampling_error(refusal_rate) if refusal_rate > 0 else 0.0,
            "points": [[round(t, 5), round(r, 5)] for r, t in zip(curve.rates, curve.thresholds)]}


# --- analytics ---------------------------------------------------------------------------------
def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def analytics(*, days: int = 30) -> dict:
    since = timezone.now() - timedelta(days=days)
    conversations = Conversation.objects.filter(started_at__gte=since)
    replies = Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=since)
    total = conversations.count()
    handed = conversations.filter(handoff_at__isnull=False).count()
    feedback = replies.exclude(feedback="")
    helpful = feedback.filter(feedback=Message.Feedback.HELPFUL).count()
    per_day = {row["day"]: row for row in conversations.annotate(day=TruncDate("started_at")).values("day")
               .annotate(n=Count("id"), handed=Count("id", filter=Q(handoff_at__isnull=False)))}
    questions_per_day = dict(Message.objects.filter(role=Message.Role.CUSTOMER, created_at__gte=since)
                             .annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("id"))
                             .values_list("day", "n"))
    helpful_per_day = {row["day"]: row for row in feedback.annotate(day=TruncDate("created_at")).values("day")
                       .annotate(n=Count("id"), ok=Count("id", filter=Q(feedback=Message.Feedback.HELPFUL)))}
    kinds_per_day = {row["day"]: row for row in replies.annotate(day=TruncDate("created_at")).values("day")
                     .annotate(open=Count("id", filter=Q(source=Message.Source.OPEN)),
                               smalltalk=Count("id", filter=Q(source=Message.Source.SMALLTALK)))}
    today = timezone.localdate()
    series = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        row = per_day.get(day, {"n": 0, "handed": 0})
        fb = helpful_per_day.get(day, {"n": 0, "ok": 0})
        kinds = kinds_per_day.get(day, {"open": 0, "smalltalk": 0})
        series.append({
            "day": day.isoformat(), "conversations": row["n"], "questions": questions_per_day.get(day, 0),
            "open": kinds["open"], "smalltalk": kinds["smalltalk"],
            "handoff_rate": _rate(row["handed"], row["n"]),
            "containment_rate": _rate(row["n"] - row["handed"], row["n"]),
            "helpful_rate": _rate(fb["ok"], fb["n"]),
        })
    top_intents = list(replies.exclude(intent="").exclude(source__in=(Message.Source.OPEN, Message.Source.SMALLTALK))
                       .values("intent").annotate(n=Count("id")).order_by("-n", "intent")[:10])
    sources = dict(replies.values_list("source").annotate(n=Count("id")).order_by("source"))
    n_replies = sum(sources.values())
    smalltalk_kinds = dict(replies.filter(source=Message.Source.SMALLTALK).values_list("intent")
                           .annotate(n=Count("id")).order_by("intent"))
    missed = dict(Message.objects.filter(role=Message.Role.CUSTOMER, created_at__gte=since, review_reason__in=(
        Message.ReviewReason.NOT_HELPFUL, Message.ReviewReason.ASKED_AGAIN)).values_list("review_reason")
        .annotate(n=Count("id")).order_by("review_reason"))
    return {
        "days": days, "conversations": total, "questions": sum(questions_per_day.values()),
        "replies": replies.count(), "handoff_rate": _rate(handed, total),
        "containment_rate": _rate(total - handed, total), "helpful_rate": _rate(helpful, feedback.count()),
        "feedback_count": feedback.count(), "series": series, "top_intents": top_intents, "sources": sources,
        # Outside the knowledge base (answered with what the assistant can help with) and small talk.
        "open_count": sources.get(Message.Source.OPEN, 0), "open_rate": _rate(sources.get(Message.Source.OPEN, 0), n_replies),
        "smalltalk_count": sources.get(Message.Source.SMALLTALK, 0),
        "smalltalk_rate": _rate(sources.get(Message.Source.SMALLTALK, 0), n_replies), "smalltalk_kinds": smalltalk_kinds,
        # Answers that probably missed: marked not helpful, or asked again in other words right after.
        "not_helpful_count": missed.get(Message.ReviewReason.NOT_HELPFUL, 0),
        "asked_again_count": missed.get(Message.ReviewReason.ASKED_AGAIN, 0),
    }


def site_list() -> QuerySet[Site]:
    return Site.objects.all()


def site_get(*, pk: int) -> Site | None:
    return Site.objects.filter(pk=pk).first()


def active_site_get(*, public_key: str) -> Site | None:
    """The active site with this public key (the widget's), or None."""
    return Site.objects.filter(public_key=public_key[:64], is_active=True).first()
