"""Customer service: the knowledge base, the sites that embed the widget, conversations.

Texts written by customers and operators are stored only after personal data has been masked
(services.chat). Entries and example questions carry their sentence embedding (float32 bytes)
and the knowledge-base revision at which they last changed, so that every serving process can
bring its in-memory faiss index up to date incrementally (serving.KnowledgeIndex).
"""
from __future__ import annotations

import re
import secrets
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from .smalltalk import KINDS as SMALLTALK_KINDS

# django-ratelimit's rate syntax: count / [multiplier] unit, e.g. "20/m", "100/5m".
RATE_RE = re.compile(r"(\d+)/(\d*)([smhd])")


def new_site_key() -> str:
    return "site_" + secrets.token_urlsafe(18)


def normalise_origin(value: str) -> str:
    """`scheme://host[:port]` as a browser sends it in the Origin header, or ValidationError."""
    raw = value.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"{raw!r} is not an origin: write scheme://host[:port], e.g. https://shop.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValidationError(f"{raw!r} has more than an origin: leave out the path, query and user")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = parts.port
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default_port else "")


class Site(models.Model):
    """A website that embeds the chat widget with its public key."""

    name = models.CharField(max_length=100)
    public_key = models.CharField(max_length=64, unique=True, default=new_site_key, editable=False)
    allowed_origins = models.TextField(
        help_text="One origin per line, exactly as the browser sends it: scheme://host[:port]. "
                  "Every widget request is checked against this list.")
    is_active = models.BooleanField(default=True)
    greeting = models.CharField(max_length=300, default="Hello! How can I help you today?")
    placeholder_values = models.JSONField(
        default=dict, blank=True,
        help_text='Values for answer placeholders, e.g. {"Website Name": "shop.example.com"}.')
    rate_limit_per_ip = models.CharField(
        max_length=20, default="20/m", help_text="Chat requests one visitor (IP address) may send: N/s, N/m, N/h")
    rate_limit_per_site = models.CharField(
        max_length=20, default="1200/m", help_text="Chat requests all visitors of this site together may send")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def origin_list(self) -> list[str]:
        return [line.strip() for line in self.allowed_origins.splitlines() if line.strip()]

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        try:
            origins = [normalise_origin(o) for o in self.origin_list()]
        except ValidationError as exc:
            errors["allowed_origins"] = exc.messages
        else:
            if not origins:
                errors["allowed_origins"] = ["list at least one origin"]
            self.allowed_origins = "\n".join(dict.fromkeys(origins))
        for field in ("rate_limit_per_ip", "rate_limit_per_site"):
            match = RATE_RE.fullmatch(getattr(self, field).strip())
            if not match or int(match.group(1)) < 1:
                errors[field] = ["write a rate as N/s, N/m, N/h or N/d, e.g. 20/m"]
        if not isinstance(self.placeholder_values, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.placeholder_values.items()):
            errors["placeholder_values"] = ['give a JSON object of texts, e.g. {"Website Name": "x"}']
        if errors:
            raise ValidationError(errors)


class KnowledgeBaseState(models.Model):
    """One row: the knowledge base's revision, raised by every change (serving processes poll it)."""

    revision = models.PositiveBigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)


class KBEntry(models.Model):
    """An answer: what the assistant says for one intent (or one topic of an intent)."""

    title = models.CharField(max_length=200)
    answer = models.TextField(help_text="May hold placeholders such as {{Order Number}}.")
    intent = models.CharField(max_length=100, db_index=True,
                              help_text="A label such as cancel_order; the intent classifier learns these.")
    tags = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=12, default="en")
    is_active = models.BooleanField(default=True)
    revision = models.PositiveBigIntegerField(default=0, editable=False)
    embedding = models.BinaryField(null=True, editable=False)
    embedding_model = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["intent", "title"]
        verbose_name = "knowledge-base entry"
        verbose_name_plural = "knowledge-base entries"

    def __str__(self) -> str:
        return self.title


class KBExample(models.Model):
    """An example question answered by its entry (personal data masked)."""

    class Source(models.TextChoices):
        IMPORT = "import", "Imported"
        MANUAL = "manual", "Written by an operator"
        CONVERSATION = "conversation", "From a conversation"

    entry = models.ForeignKey(KBEntry, on_delete=models.CASCADE, related_name="examples")
    text = models.TextField()
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    revision = models.PositiveBigIntegerField(default=0, editable=False)
    embedding = models.BinaryField(null=True, editable=False)
    embedding_model = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entry_id", "id"]
        verbose_name = "example question"

    def __str__(self) -> str:
        return self.text[:80]


def default_handoff_intents() -> list[str]:
    return ["contact_human_agent"]


DEFAULT_OPEN_INTENT_REPLY = ("I'm sorry, that is not something I can help with here. I can help with {{Topics}}. "
                             "Would you like me to connect you with a person?")


class AssistantSettings(models.Model):
    """One row: how the answering cascade decides (admins change it in the console or back office)."""

    answer_threshold = models.FloatField(
        default=0.5, help_text="Answer with the intent's entry when the intent's calibrated probability is "
                               "at least this (0-1).")
    clarify_margin = models.FloatField(
        default=0.15, help_text="When the two likeliest intents are closer than this and together reach the "
                                "answer threshold, ask which one the customer means.")
    retrieval_precision = models.FloatField(
        default=0.9, help_text="Answer from the nearest knowledge-base text only above the similarity at "
                               "which such answers had the right intent this often (measured on the "
                               "knowledge base itself).")
    handoff_intents = models.JSONField(
        default=default_handoff_intents, blank=True, help_text='Intents that go straight to a person, e.g. ["contact_human_agent"].')
    generation_enabled = models.BooleanField(
        default=False, help_text="Compose answers from the retrieved entries with SmolLM2-135M-Instruct "
                                 "(adds seconds per reply on a CPU); replies always cite the entries used.")
    generation_max_tokens = models.PositiveIntegerField(default=120)
    open_intent_refusal_rate = models.FloatField(
        default=0.05, verbose_name="known questions refused at most",
        help_text="Messages unlike every intent the model knows are not answered from an intent; the threshold "
                  "is set so that at most this share of known questions (held out at training) is refused "
                  "(0-0.5; 0 turns the check off).")
    open_intent_reply = models.TextField(
        default=DEFAULT_OPEN_INTENT_REPLY, verbose_name="reply outside the knowledge base",
        help_text="Said when a message is outside the knowledge base and no entry is close enough; "
                  "{{Topics}} lists the knowledge base's main topics.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = "assistant settings"
        verbose_name_plural = "assistant settings"

    def __str__(self) -> str:
        return "Assistant settings"

    def clean(self) -> None:
        errors = {}
        if not 0.0 < self.answer_threshold <= 1.0:
            errors["answer_threshold"] = "must be between 0 (exclusive) and 1"
        if not 0.0 <= self.clarify_margin < 1.0:
            errors["clarify_margin"] = "must be between 0 and 1"
        if not 0.5 <= self.retrieval_precision < 1.0:
            errors["retrieval_precision"] = "must be between 0.5 and 1 (exclusive)"
        if not isinstance(self.handoff_intents, list) or not all(isinstance(i, str) for i in self.handoff_intents):
            errors["handoff_intents"] = 'give a JSON list of intent names, e.g. ["contact_human_agent"]'
        if not 16 <= self.generation_max_tokens <= 512:
            errors["generation_max_tokens"] = "must be between 16 and 512"
        if not 0.0 <= self.open_intent_refusal_rate <= 0.5:
            errors["open_intent_refusal_rate"] = "must be between 0 and 0.5 (a share: 0.05 is 5 %)"
        if not (self.open_intent_reply or "").strip():
            errors["open_intent_reply"] = "write what the assistant says outside the knowledge base"
        if errors:
            raise ValidationError(errors)


class Conversation(models.Model):
    class Status(models.TextChoices):
        BOT = "bot", "With the assistant"
        WAITING = "waiting", "Waiting for a person"
        OPERATOR = "operator", "With an operator"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOT, db_index=True)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    # Values for answer placeholders learnt in the conversation ({"Order Number": "A-1234"}).
    context = models.JSONField(default=dict, blank=True)
    handoff_reason = models.CharField(max_length=200, blank=True)
    handoff_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_message_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-last_message_at"]

    def __str__(self) -> str:
        return f"Conversation {str(self.id)[:8]} on {self.site}"


class Message(models.Model):
    class Role(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        ASSISTANT = "assistant", "Assistant"
        OPERATOR = "operator", "Operator"

    class Source(models.TextChoices):
        TEMPLATE = "template", "Intent answer"
        RETRIEVAL = "retrieval", "Knowledge-base search"
        CLARIFY = "clarify", "Clarifying question"
        GENERATED = "generated", "Generated from entries"
        HANDOFF = "handoff", "Handed to a person"
        SMALLTALK = "smalltalk", "Small talk"
        OPEN = "open", "Outside the knowledge base"

    class ReviewReason(models.TextChoices):
        OPEN = "open", "outside the knowledge base"
        HANDED_OVER = "handed_over", "handed over"
        UNCLEAR = "unclear", "unclear"
        LOW_CONFIDENCE = "low_confidence", "low confidence"
        NOT_HELPFUL = "not_helpful", "not helpful"
        ASKED_AGAIN = "asked_again", "asked again"

    class Feedback(models.TextChoices):
        HELPFUL = "helpful", "Helpful"
        NOT_HELPFUL = "not_helpful", "Not helpful"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField(help_text="Personal data masked before storage.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Assistant replies: what the cascade decided and why.
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    intent = models.CharField(max_length=100, blank=True, db_index=True)
    confidence = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, blank=True, db_index=True)
    entries = models.JSONField(default=list, blank=True, help_text="Ids of the entries the reply used")
    alternatives = models.JSONField(default=list, blank=True, help_text="[[intent, probability], ...]")
    model_version = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    feedback = models.CharField(max_length=12, choices=Feedback.choices, blank=True)
    feedback_at = models.DateTimeField(null=True, blank=True)
    # Customer messages: review and labelling.
    needs_review = models.BooleanField(default=False, db_index=True,
                                       help_text="Handed over, unsure, outside the knowledge base, asked again "
                                                 "or marked not helpful")
    review_reason = models.CharField(max_length=20, choices=ReviewReason.choices, blank=True)
    embedding = models.BinaryField(null=True, editable=False)
    labelled_intent = models.CharField(max_length=100, blank=True,
                                       help_text="Intent an operator confirmed; used for retraining")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "id"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class SmallTalkReply(models.Model):
    """What the assistant says to one kind of small talk (greetings, thanks...): built in, editable."""

    kind = models.CharField(max_length=20, unique=True, choices=[(k, label) for k, (label, _) in SMALLTALK_KINDS.items()])
    answer = models.TextField(help_text="{{Topics}} lists the knowledge base's main topics; site placeholders "
                                        "such as {{Website Name}} work too.")
    examples = models.TextField(blank=True, help_text="More phrases of this kind, one per line (the built-in "
                                                      "ones always count).")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["id"]
        verbose_name = "small-talk reply"
        verbose_name_plural = "small-talk replies"

    def __str__(self) -> str:
        return self.get_kind_display()

    def example_list(self) -> list[str]:
        return [line.strip() for line in (self.examples or "").splitlines() if line.strip()]

    def clean(self) -> None:
        if not (self.answer or "").strip():
            raise ValidationError({"answer": "write the answer"})
        if len(self.example_list()) > 200:
            raise ValidationError({"examples": "at most 200 phrases"})


class IdempotencyRecord(models.Model):
    """The response to a write sent with an Idempotency-Key, replayed when the key comes again."""

    scope = models.CharField(max_length=100, help_text="Site key and endpoint")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_unique_key")]

