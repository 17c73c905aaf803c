"""The knowledge base: entries and example questions, each write raising the KB revision.

Example questions are masked for personal data before they are stored (they train the intent
model). Vectors are computed here for small writes (a few texts through the process's encoder)
and by `kb_embed_pending` for big ones (imports: the command, or a job after an upload).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q

from apps.core.validation import NUL_MESSAGE, contains_nul
from ml_core.progress import ProgressCallback, no_progress
from ml_core.trust import mask_pii

from ..models import KBEntry, KBExample, KnowledgeBaseState
from ..serving import embed_texts, embedding_model_name, kb_revision, vector_to_bytes

MAX_QUESTION_CHARS = 2000
MAX_ANSWER_CHARS = 20_000
# Intent names are labels, not slugs: real data sets use "reverted_card_payment?" (Banking77).
INTENT_RE = re.compile(r"^[\w\-.:?!'/]{1,100}$")


class KBError(ValueError):
    """A knowledge-base write cannot be done as asked; the message says why, `field` names the field."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def kb_revision_bump() -> int:
    """Raise the revision inside the caller's transaction (the row lock orders concurrent writers)."""
    if not KnowledgeBaseState.objects.filter(pk=1).update(revision=F("revision") + 1):
        KnowledgeBaseState.objects.get_or_create(pk=1, defaults={"revision": 0})
        KnowledgeBaseState.objects.filter(pk=1).update(revision=F("revision") + 1)
    return kb_revision()


def normalise_intent(raw: str) -> str:
    """"Cancel order" -> "cancel_order"; KBError when it cannot be an intent name."""
    value = re.sub(r"\s+", "_", (raw or "").strip()).lower()
    if not value:
        raise KBError("the intent is empty", "intent")
    if not INTENT_RE.match(value):
        raise KBError(f"intent {raw!r} may only hold letters, digits and _ - . : ? ! ' / (at most 100)", "intent")
    return value


def clean_question(raw: str) -> str:
    if contains_nul(raw):
        raise KBError(f"the question {NUL_MESSAGE}", "question")
    text = " ".join((raw or "").split())
    if not text:
        raise KBError("the question is empty", "question")
    if len(text) > MAX_QUESTION_CHARS:
        raise KBError(f"the question is longer than {MAX_QUESTION_CHARS} characters", "question")
    return mask_pii(text).text


def clean_tags(raw: str | Iterable[str] | None) -> list[str]:
    if raw is None:
        return []
    items = re.split(r"[;,|]", raw) if isinstance(raw, str) else list(raw)
    return list(dict.fromkeys(str(t).strip().lower() for t in items if str(t).strip()))


@dataclass
class EntryFields:
    """Validated fields of an entry (what forms, the API and imports hand over)."""

    title: str
    answer: str
    intent: str
    tags: list[str]
    language: str = "en"
    is_active: bool = True

    @classmethod
    def clean(cls, *, title: str, answer: str, intent: str, tags=None, language: str = "en",
              is_active: bool = True) -> EntryFields:
        for name, value in (("title", title), ("answer", answer), ("intent", intent), ("tags", tags),
                            ("language", language)):
            if contains_nul(value):
                raise KBError(f"the {name} {NUL_MESSAGE}", name)
        title = " ".join((title or "").split())
        answer = (answer or "").replace("\r\n", "\n").strip()
        if not answer:
            raise KBError("the answer is empty", "answer")
        if len(answer) > MAX_ANSWER_CHARS:
            raise KBError(f"the answer is longer than {MAX_ANSWER_CHARS} characters", "answer")
        intent = normalise_intent(intent)
        if not title:
            title = intent.replace("_", " ").replace("-", " ").capitalize()
        if len(title) > 200:
            raise KBError("the title is longer than 200 characters", "title")
        language = (language or "en").strip().lower()
        if not re.match(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$", language):
            raise KBError(f"language {language!r} is not a language code such as en or pt-br", "language")
        return cls(title, answer, intent, clean_tags(tags), language, bool(is_active))


def _embed_rows(rows: Sequence[KBEntry | KBExample], texts: Sequence[str]) -> None:
    if not rows:
        return
    vectors = embed_texts(texts)
    name = embedding_model_name()
    for row, vector in zip(rows, vectors):
        row.embedding = vector_to_bytes(vector)
        row.embedding_model = name


def entry_text(entry: KBEntry) -> str:
    """What represents an entry's answer in the index."""
    return f"{entry.title}. {entry.answer}"


@transaction.atomic
def kb_entry_create(*, fields: EntryFields, questions: Sequence[str] = (), source: str = KBExample.Source.MANUAL,
                    created_by=None, embed: bool = True) -> KBEntry:
    revision = kb_revision_bump()
    entry = KBEntry(title=fields.title, answer=fields.answer, intent=fields.intent, tags=fields.tags,
                    language=fields.language, is_active=fields.is_active, revision=revision,
                    created_by=created_by if (created_by and created_by.is_authenticated) else None)
    texts = list(dict.fromkeys(clean_question(q) for q in questions))
    examples = [KBExample(text=t, source=source, revision=revision) for t in texts]
    if embed:
        _embed_rows([entry, *examples], [entry_text(entry), *texts])
    entry.save()
    for example in examples:
        example.entry = entry
    KBExample.objects.bulk_create(examples)
    return entry


@transaction.atomic
def kb_entry_update(*, entry: KBEntry, fields: EntryFields, questions: Sequence[str] | None = None,
                    embed: bool = True) -> KBEntry:
    """Change an entry; with `questions`, its example questions become exactly these."""
    revision = kb_revision_bump()
    answer_changed = (entry.title, entry.answer) != (fields.title, fields.answer)
    for name in ("title", "answer", "intent", "tags", "language", "is_active"):
        setattr(entry, name, getattr(fields, name))
    entry.revision = revision
    if answer_changed:
        entry.embedding, entry.embedding_model = None, ""
        if embed:
            _embed_rows([entry], [entry_text(entry)])
    entry.save()
    if questions is not None:
        wanted = list(dict.fromkeys(clean_question(q) for q in questions))
        existing = {e.text: e for e in entry.examples.all()}
        entry.examples.exclude(text__in=wanted).delete()
        new = [KBExample(entry=entry, text=t, source=KBExample.Source.MANUAL, revision=revision)
               for t in wanted if t not in existing]
        if embed:
            _embed_rows(new, [e.text for e in new])
        KBExample.objects.bulk_create(new)
    return entry


@transaction.atomic
def kb_entry_delete(*, entry: KBEntry) -> None:
    kb_revision_bump()
    entry.delete()


@transaction.atomic
def kb_example_add(*, entry: KBEntry, text: str, source: str = KBExample.Source.MANUAL,
                   embed: bool = True) -> KBExample:
    """Add one example question (masked); an existing identical question is returned as is."""
    cleaned = clean_question(text)
    found = entry.examples.filter(text=cleaned).first()
    if found:
        return found
    revision = kb_revision_bump()
    example = KBExample(entry=entry, text=cleaned, source=source, revision=revision)
    if embed:
        _embed_rows([example], [cleaned])
    example.save()
    return example


def kb_pending_count() -> int:
    name = embedding_model_name()
    stale = Q(embedding=None) | ~Q(embedding_model=name)
    return KBEntry.objects.filter(stale).count() + KBExample.objects.filter(stale).count()


def kb_embed_pending(*, progress: ProgressCallback = no_progress, batch_size: int = 256) -> int:
    """Embed every entry and question that has no vector from the current encoder; returns how many.

    Batches commit one by one (each raising the revision), so serving processes pick up vectors as
    they come and a cancelled run keeps what it did.
    """
    name = embedding_model_name()
    stale = Q(embedding=None) | ~Q(embedding_model=name)
    total = KBEntry.objects.filter(stale).count() + KBExample.objects.filter(stale).count()
    done = 0
    progress(0.0, f"{total} texts to embed")
    for model, text_of in ((KBEntry, entry_text), (KBExample, lambda e: e.text)):
        while True:
            rows = list(model.objects.filter(stale).order_by("id")[:batch_size])
            if not rows:
                break
            _embed_rows(rows, [text_of(r) for r in rows])
            with transaction.atomic():
                revision = kb_revision_bump()
                for row in rows:
                    row.revision = revision
                model.objects.bulk_update(rows, ["embedding", "embedding_model", "revision"])
            done += len(rows)
            progress(100.0 * done / max(total, 1), f"embedded {done}/{total} texts")
    return done
