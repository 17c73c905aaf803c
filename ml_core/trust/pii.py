"""Mask personal data before text is stored or used for training.

Detected: e-mail addresses; phone numbers (Google's libphonenumber via `phonenumbers`, for a
configurable set of regions, so prices, dates and order numbers are not taken for phones);
payment card numbers (13-19 digits that pass the Luhn check); IBANs (ISO 13616 mod-97 check,
via `python-stdnum`); national-id-like numbers (US SSN with valid area/group/serial, UK
National Insurance numbers). Each finding is replaced by a readable placeholder such as
"[EMAIL]", so a masked conversation still reads naturally.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
IBAN = "IBAN"
NATIONAL_ID = "NATIONAL_ID"
ALL_KINDS = (EMAIL, CARD, IBAN, NATIONAL_ID, PHONE)  # order = priority when spans overlap

_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# 13-19 digits, optionally grouped by single spaces or dashes (as printed on cards).
_CARD_RE = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN_RE = re.compile(r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])")
_NINO_RE = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TY][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


@dataclass
class MaskResult:
    text: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}


@dataclass(frozen=True)
class PiiConfig:
    kinds: tuple[str, ...] = ALL_KINDS
    # Regions whose national phone formats are recognised without a +country prefix.
    phone_regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN")


def _luhn_ok(digits: str) -> bool:
    from stdnum import luhn

    return luhn.is_valid(digits)


def _find_cards(text: str) -> list[Finding]:
    found = []
    for match in _CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn_ok(digits):
            found.append(Finding(CARD, match.start(), match.end()))
    return found


def _find_ibans(text: str) -> list[Finding]:
    from stdnum import iban

    return [Finding(IBAN, m.start(), m.end()) for m in _IBAN_RE.finditer(text) if iban.is_valid(m.group())]


def _find_national_ids(text: str) -> list[Finding]:
    from stdnum.us import ssn

    found = [Finding(NATIONAL_ID, m.start(), m.end()) for m in _SSN_RE.finditer(text)
             if ssn.is_valid(m.group().replace(" ", "-"))]
    found += [Finding(NATIONAL_ID, m.start(), m.end()) for m in _NINO_RE.finditer(text)]
    return found


def _find_phones(text: str, regions: tuple[str, ...]) -> list[Finding]:
    import phonenumbers

    found = []
    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            if _SSN_RE.fullmatch(match.raw_string):
                continue  # the 3-2-4 layout is a social security number's, never a phone's
            found.append(Finding(PHONE, match.start, match.end))
    return found


def find_pii(text: str, config: PiiConfig = PiiConfig()) -> list[Finding]:
    """Every piece of personal data in `text`, non-overlapping, in reading order."""
    unknown = set(config.kinds) - set(ALL_KINDS)
    if unknown:
        from ml_core.errors import UserError

        raise UserError(f"unknown personal-data kinds {sorted(unknown)}; known: {', '.join(ALL_KINDS)}")
    if not text:
        return []
    candidates: list[Finding] = []
    finders = {
        EMAIL: lambda: [Finding(EMAIL, m.start(), m.end()) for m in _EMAIL_RE.finditer(text)],
        CARD: lambda: _find_cards(text),
        IBAN: lambda: _find_ibans(text),
        NATIONAL_ID: lambda: _find_national_ids(text),
        PHONE: lambda: _find_phones(text, config.phone_regions),
    }
    for kind in ALL_KINDS:
        if kind in config.kinds:
            candidates += finders[kind]()
    # Keep the higher-priority kind where spans overlap (a card number is not also a phone).
    priority = {kind: rank for rank, kind in enumerate(ALL_KINDS)}
    chosen: list[Finding] = []
    for finding in sorted(candidates, key=lambda f: (priority[f.kind], f.start)):
        if all(finding.end <= c.start or finding.start >= c.end for c in chosen):
            chosen.append(finding)
    return sorted(chosen, key=lambda f: f.start)


def mask_pii(text: str, config: PiiConfig = PiiConfig()) -> MaskResult:
    """Replace personal data by placeholders such as [EMAIL]; returns the text and what was found."""
    findings = find_pii(text, config)
    if not findings:
        return MaskResult(text, [])
    pieces, cursor = [], 0
    for finding in findings:
        pieces.append(text[cursor:finding.start])
        pieces.append(f"[{finding.kind}]")
        cursor = finding.end
    pieces.append(text[cursor:])
    return MaskResult("".join(pieces), findings)
