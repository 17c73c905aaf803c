"""API keys for server-to-server calls: shown once, stored as a sha256, scoped, revocable, audited.

A key is `ak_` + 256 random bits. Its first characters (the prefix) are stored in clear to find
the candidate rows and to let people recognise a key; the rest is only ever compared as a
sha256 digest, in constant time. Keys made by finance before keys moved here start `fin_` and
work the same way.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..models import ApiKey, AuditEvent
from .audit import audit_record

KEY_PREFIX = "ak_"
PREFIX_LENGTH = 10
# last_used_at is a hint for people ("is this key still in use?"), not a log: one write a minute at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Every key ever made is a prefix and URL-safe base64; anything else is refused before the database
# sees it (PostgreSQL cannot even compare a string holding a NUL).
KEY_SHAPE = re.compile(r"[A-Za-z0-9_\-]{8,200}")


class ApiKeyError(ValueError):
    """A key that cannot be created as asked (no name, unknown scope)."""


@dataclass(frozen=True)
class KeyCheck:
    key: ApiKey | None
    problem: str = ""  # why the key was refused, for the 401 answer


def api_key_digest(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8", errors="replace")).hexdigest()


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(str(s) for s in scopes))  # str(): plain values, not enum members
    unknown = [s for s in chosen if s not in ApiKey.Scope.values]
    if unknown:
        raise ApiKeyError(f"unknown scope {unknown[0]!r}; choose from {', '.join(ApiKey.Scope.values)}")
    if not chosen:
        raise ApiKeyError("a key needs at least one scope")
    return chosen


def api_key_create(*, name: str, scopes: Iterable[str], created_by=None) -> tuple[ApiKey, str]:
    """A new key and its plain text, which is returned only here and never stored."""
    name = (name or "").strip()
    if not name:
        raise ApiKeyError("a key needs a name (who uses it)")
    scopes = _clean_scopes(scopes)
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    creator = created_by if created_by is not None and created_by.is_authenticated else None
    key = ApiKey.objects.create(name=name[:100], prefix=plain[:PREFIX_LENGTH], key_hash=api_key_digest(plain),
                                scopes=scopes, created_by=creator)
    audit_record(action=AuditEvent.Action.API_KEY_CREATE, target=f"API key {key}",
                 details={"prefix": key.prefix, "scopes": scopes}, actor=creator)
    return key, plain


def api_key_authenticate(*, plain: str) -> KeyCheck:
    """The active key whose digest matches, or why none does. Notes the use (once a minute at most)."""
    plain = plain.strip()
    if not KEY_SHAPE.fullmatch(plain):
        return KeyCheck(None, "unknown API key")
    digest = api_key_digest(plain)
    match = None
    # The prefix narrows the search; the digest decides, compared in constant time.
    for candidate in ApiKey.objects.filter(prefix=plain[:PREFIX_LENGTH]):
        if hmac.compare_digest(candidate.key_hash, digest):
            match = candidate
    if match is None:
        return KeyCheck(None, "unknown API key")
    if not match.is_active:
        return KeyCheck(None, "this API key was revoked")
    now = timezone.now()
    if match.last_used_at is None or now - match.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional, so concurrent requests of the same minute write once between them.
        ApiKey.objects.filter(pk=match.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        match.last_used_at = now
    return KeyCheck(match)


def api_key_revoke(*, key: ApiKey, revoked_by=None) -> ApiKey:
    """Revoke at once (idempotent: a second revocation changes nothing and is not audited again)."""
    changed = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db()
    if changed:
        audit_record(action=AuditEvent.Action.API_KEY_REVOKE, target=f"API key {key}",
                     details={"prefix": key.prefix, "scopes": key.scopes}, actor=revoked_by)
    return key


def api_key_list(*, scope: str | None = None) -> list[ApiKey]:
    """Keys, newest first; with a scope, only the keys that have it (filtered here: JSON
    containment is not portable to SQLite, and there are few keys)."""
    keys = ApiKey.objects.select_related("created_by").order_by("-created_at")
    return [k for k in keys if scope is None or k.has_scope(scope)]
