"""Finance's API keys: core keys (apps.core.services.api_keys) with the "finance" scope.

The finance console makes and lists its keys through here; the back office (core admin) manages
keys of every scope.
"""
from __future__ import annotations

from apps.core.models import ApiKey
from apps.core.services.api_keys import api_key_create as core_api_key_create
from apps.core.services.api_keys import api_key_list, api_key_revoke

FINANCE = ApiKey.Scope.FINANCE

__all__ = ["api_key_create", "api_key_revoke", "finance_api_key_get", "finance_api_keys"]


def api_key_create(*, name: str, created_by=None) -> tuple[ApiKey, str]:
    """A new key that may post documents; the plain key is returned only here."""
    return core_api_key_create(name=name, scopes=[FINANCE], created_by=created_by)


def finance_api_keys() -> list[ApiKey]:
    return api_key_list(scope=FINANCE)


def finance_api_key_get(*, pk: int) -> ApiKey | None:
    key = ApiKey.objects.filter(pk=pk).first()
    return key if key is not None and key.has_scope(FINANCE) else None
