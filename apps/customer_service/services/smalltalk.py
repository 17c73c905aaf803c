"""Small talk's answers (built in, edited by admins) and matching a message against its phrases.

The rows are read at most once per SMALLTALK_TTL_S per process (like the assistant settings).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction

from ..models import SmallTalkReply
from ..smalltalk import KINDS, SmallTalk
from .brief_cache import BriefCache

SMALLTALK_TTL_S = 2.0


class SmallTalkError(Exception):
    """An edit of a small-talk reply that cannot be saved as sent."""


_replies = BriefCache(lambda: {row.kind: row for row in SmallTalkReply.objects.all()}, SMALLTALK_TTL_S)


def smalltalk_replies(fresh: bool = False) -> dict[str, SmallTalkReply]:
    """{kind: row} of the stored replies (a kind without a row answers with its built-in answer)."""
    return _replies.get(fresh)


def smalltalk_forget() -> None:
    """Drop this process's cached replies (tests; the cache also expires by itself)."""
    _replies.forget()


def smalltalk_answer(kind: str) -> str:
    row = smalltalk_replies().get(kind)
    return row.answer if row is not None and row.answer.strip() else KINDS[kind][1]


def smalltalk_extra_examples() -> dict[str, list[str]]:
    return {kind: row.example_list() for kind, row in smalltalk_replies().items() if row.example_list()}


def smalltalk_match(text: str, unit_embedding: np.ndarray | None, best_kb_score: float) -> SmallTalk | None:
    """The small talk a message is (exact phrase, else nearest example phrase), or None."""
    from ..serving import assistant, one_blas_thread

    matcher = assistant().smalltalk_matcher(smalltalk_extra_examples())
    with one_blas_thread():
        return matcher.match(text, unit_embedding, best_kb_score=best_kb_score,
                             threshold=settings.CUSTOMER_SERVICE_SMALLTALK_SIMILARITY)


def smalltalk_rows() -> list[dict[str, Any]]:
    """Every kind, in order, with its current answer and extra phrases (for the console's form)."""
    rows = smalltalk_replies(fresh=True)
    return [{"kind": kind, "label": label, "answer": rows[kind].answer if kind in rows else default,
             "examples": rows[kind].examples if kind in rows else "", "built_in": default}
            for kind, (label, default) in KINDS.items()]


def smalltalk_reply_update(*, kind: str, answer: str, examples: str = "", updated_by=None) -> SmallTalkReply:
    """Change one kind's answer and extra phrases (validated, audited as a settings change)."""
    from django.core.exceptions import ValidationError

    from apps.core.models import AuditEvent
    from apps.core.services.audit import audit_record

    from ..scenario import SCENARIO

    if kind not in KINDS:
        raise SmallTalkError(f"unknown kind of small talk {kind!r}; known: {', '.join(KINDS)}")
    row = SmallTalkReply.objects.filter(kind=kind).first() or SmallTalkReply(kind=kind)
    before = {"answer": row.answer, "examples": row.examples}
    row.answer = (answer or "").replace("\r\n", "\n").strip()
    row.examples = "\n".join(line.strip() for line in (examples or "").splitlines() if line.strip())
    try:
        row.full_clean()
    except ValidationError as exc:
        raise SmallTalkError("; ".join(m for messages in exc.message_dict.values() for m in messages)) from None
    changed = {name: {"from": before[name], "to": getattr(row, name)} for name in before
               if before[name] != getattr(row, name)}
    if not changed and row.pk:
        return row
    row.updated_by = updated_by if (updated_by and updated_by.is_authenticated) else None
    with transaction.atomic():
        row.save()
        audit_record(action=AuditEvent.Action.SETTINGS_CHANGE, scenario=SCENARIO,
                     target=f"small-talk reply: {KINDS[kind][0]}", details={"changed": changed}, actor=updated_by)
    smalltalk_forget()
    return row
