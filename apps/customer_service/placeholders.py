"""Answer placeholders such as {{Order Number}}: kept in the knowledge base, filled when replying.

A value comes from the conversation (what the customer told us, or what the embedding page
passed to the widget), else from the site's settings; a placeholder with no value is rendered
readably: a value the customer would have to supply reads "[Order Number]", a name of a page or
section of the site reads as that name ("go to Order History").
"""
from __future__ import annotations

import re
from typing import Mapping

PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}\n]{1,80}?)\s*\}\}")
# Words that mark a placeholder as a value (shown in brackets when unknown).
VALUE_WORDS = ("number", "id", "email", "phone", "url", "name", "amount", "date", "address", "code", "hours",
               "availability", "time")
ALIASES = {
    "order id": "order number", "purchase id": "order number", "purchase number": "order number",
    "invoice id": "invoice number", "bill number": "invoice number", "receipt number": "invoice number",
}
ORDER_RE = re.compile(r"\b(?:order|purchase)\s*(?:number|no\.?|id|#)?\s*[:#]?\s*([A-Z0-9][A-Z0-9-]{3,24})\b", re.I)
INVOICE_RE = re.compile(r"\b(?:invoice|bill|receipt)\s*(?:number|no\.?|id|#)?\s*[:#]?\s*([A-Z0-9][A-Z0-9-]{3,24})\b",
                        re.I)


def placeholder_key(name: str) -> str:
    key = " ".join(name.lower().replace("_", " ").split())
    key = key.removesuffix(" anonymized").strip()
    return ALIASES.get(key, key)


def placeholders_in(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER_RE.finditer(text or "")))


def _readable(name: str) -> str:
    shown = re.sub(r"\s+anonymized$", "", name.strip(), flags=re.I)
    words = shown.lower().split()
    return f"[{shown}]" if words and words[-1] in VALUE_WORDS else shown


def render_answer(text: str, *values: Mapping[str, str]) -> str:
    """Fill placeholders from the first mapping that knows them (keys compared loosely)."""
    known: dict[str, str] = {}
    for mapping in values:
        for key, value in (mapping or {}).items():
            if isinstance(value, str) and value.strip():
                known.setdefault(placeholder_key(key), value.strip())

    def fill(match: re.Match) -> str:
        name = match.group(1)
        return known.get(placeholder_key(name)) or _readable(name)

    return PLACEHOLDER_RE.sub(fill, text or "")


def context_from_message(text: str) -> dict[str, str]:
    """Values a customer gave in a message (an order or invoice number), to fill later answers."""
    found = {}
    for label, pattern in (("Order Number", ORDER_RE), ("Invoice Number", INVOICE_RE)):
        match = pattern.search(text or "")
        if match and any(ch.isdigit() for ch in match.group(1)):
            found[label] = match.group(1)
    return found
