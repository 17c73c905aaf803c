"""API keys for systems that post documents: shown once, stored as a sha256, revocable."""
from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from ..models import ApiKey

KEY_PREFIX = "fin_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, name: str, created_by=None) -> tuple[ApiKey, str]:
    """A new key; the plain key is returned only here."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(name=name.strip()[:100] or "unnamed", prefix=plain[:10], key_hash=_digest(plain),
                                created_by=created_by if created_by and created_by.is_authenticated else None)
    return key, plain


def api_key_check(*, plain: str) -> ApiKey | None:
    key = ApiKey.objects.filter(key_hash=_digest(plain.strip()), revoked_at__isnull=True).first()
    if key is not None:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db()
    return key
