"""Checks shared by every edge that stores what it is sent."""
from __future__ import annotations

from typing import Any

NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored"


def contains_nul(value: Any) -> bool:
    """Whether a string, or any key or value of a JSON-like structure, holds U+0000.

    PostgreSQL stores no NUL in text or jsonb (it raises instead), so every edge refuses NUL
    clearly rather than failing when it writes; SQLite would store it, and both must agree.
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(contains_nul(v) for v in value)
    return False
