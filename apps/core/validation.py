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


# The largest id a database integer column holds (bigint; SQLite's INTEGER too).
MAX_DATABASE_ID = 2**63 - 1


def is_ascii_integer(value: Any, *, maximum: int = MAX_DATABASE_ID) -> bool:
    """Whether `value` is a whole number written with 0-9 only, at most `maximum`.

    str.isdigit() is true for '²' and '٣', which int() refuses or reads; a number that overflows
    the database's integer column fails when the query runs. Both were server errors.
    """
    text = str(value).strip()
    return (0 < len(text) <= len(str(maximum)) and text.isascii() and text.isdigit()
            and int(text) <= maximum)

