"""Answer placeholders such as {{Order Number}}: kept in the knowledge base, filled when replying.

A value comes from the conversation (what the customer told us, or what the embedding page
passed to the widget), else from the site's settings. A placeholder with no value is rephrased so
that the sentence still reads naturally:
- tied to the word before it, it goes with its number: "choose order {{Order Number}}" reads
  "choose your order", "Order {{Order Number}} shows the date" reads "Your order shows the date";
- a value of ours reads as ours: "on {{Website Name}}" reads "on our website", "call
  {{Customer Support Phone Number}}" reads "call our customer support phone number";
- a value of the customer's reads as theirs: "quote {{Invoice Number}}" reads "quote your invoice number";
- a name of a page or section of the site reads as that name ("go to {{Order History}}").
"""
from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}\n]{1,80}?)\s*\}\}")
# Words that mark a placeholder as a value (rephrased when unknown), not the name of a page.
VALUE_WORDS = ("number", "id", "email", "phone", "url", "name", "amount", "date", "address", "code", "hours",
               "availability", "time")
ALIASES = {
    "order id": "order number", "purchase id": "order number", "purchase number": "order number",
    "invoice id": "invoice number", "bill number": "invoice number", "receipt number": "invoice number",
}
# Values that are ours, not the customer's ("our website"): placeholder names starting so.
OUR_PREFIXES = ("customer support", "customer service", "website", "company", "store", "online company", "shop")
# A placeholder and the word it numbers: "order {{Order Number}}", "the invoice no. {{Invoice Number}}".
TIED_RE = re.compile(r"(?P<det>\b(?:the|this|that|your|my|our)\s+)?(?P<noun>\b[A-Za-z]+)"
                     r"(?P<mid>\s+(?:number\b|no\.|no\b|id\b))?\s*#?\s*\{\{\s*(?P<name>[^{}\n]{1,80}?)\s*\}\}",
                     re.IGNORECASE)
# A person's name we do not know is left out ("Hello {{Client First Name}}," reads "Hello,").
PERSON_NAMES = ("salutation", "first name", "last name", "person name", "client name", "customer name", "full name")
SPACED_PLACEHOLDER_RE = re.compile(r"(?P<space>[ \t]*)" + PLACEHOLDER_RE.pattern)
ORDER_RE = re.compile(r"\b(?:order|purchase)\s*(?:number|no\.?|id|#)?\s*[:#]?\s*([A-Z0-9][A-Z0-9-]{3,24})\b", re.IGNORECASE)
INVOICE_RE = re.compile(r"\b(?:invoice|bill|receipt)\s*(?:number|no\.?|id|#)?\s*[:#]?\s*([A-Z0-9][A-Z0-9-]{3,24})\b",
                        re.IGNORECASE)


def placeholder_key(name: str) -> str:
    key = " ".join(name.lower().replace("_", " ").split())
    key = key.removesuffix(" anonymized").strip()
    return ALIASES.get(key, key)


def placeholders_in(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER_RE.finditer(text or "")))


def _missing(name: str) -> str:
    """What a placeholder with no value reads as, on its own."""
    shown = re.sub(r"\s+anonymized$", "", name.strip(), flags=re.IGNORECASE)
    key = placeholder_key(name)
    words = key.split()
    if key.endswith(PERSON_NAMES):
        return ""
    if not words or words[-1] not in VALUE_WORDS:
        return shown  # the name of a page or section: "Order History"
    if key.startswith(OUR_PREFIXES):
        return "our " + key.removesuffix(" name").removesuffix(" url")
    return "your " + key


def _sentence_start(text: str, position: int) -> bool:
    before = text[:position].rstrip()
    return not before or before[-1] in ".!?:\n"


def render_answer(text: str, *values: Mapping[str, str]) -> str:
    """Fill placeholders from the first mapping that knows them (keys compared loosely); rephrase
    the ones no mapping knows (see the module's docstring)."""
    known: dict[str, str] = {}
    for mapping in values:
        for key, value in (mapping or {}).items():
            if isinstance(value, str) and value.strip():
                known.setdefault(placeholder_key(key), value.strip())
    text = text or ""

    def untie(match: re.Match) -> str:
        name, noun = match["name"], match["noun"]
        key = placeholder_key(name)
        numbered = {words[0] for words in (key.split(), name.lower().split()) if words}  # order, purchase
        if key in known or noun.lower() not in numbered:
            return match.group(0)  # filled below, or not the word the placeholder numbers
        if match["det"]:  # "the order {{Order Number}}" -> "the order"
            return match["det"] + noun
        owner = "Your" if _sentence_start(text, match.start()) else "your"
        return f"{owner} {noun.lower()}" + (" number" if match["mid"] else "")

    def fill(match: re.Match) -> str:
        name = match.group(2)
        shown = known.get(placeholder_key(name)) or _missing(name)
        return match["space"] + shown if shown else ""  # a left-out name takes its space along

    return SPACED_PLACEHOLDER_RE.sub(fill, TIED_RE.sub(untie, text))


def context_from_message(text: str) -> dict[str, str]:
    """Values a customer gave in a message (an order or invoice number), to fill later answers."""
    found = {}
    for label, pattern in (("Order Number", ORDER_RE), ("Invoice Number", INVOICE_RE)):
        match = pattern.search(text or "")
        if match and any(ch.isdigit() for ch in match.group(1)):
            found[label] = match.group(1)
    return found
