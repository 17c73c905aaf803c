"""Each personal-data pattern: what must be masked, and look-alikes that must not be."""
import pytest

from ml_core.errors import UserError
from ml_core.trust.pii import CARD, EMAIL, IBAN, NATIONAL_ID, PHONE, PiiConfig, find_pii, mask_pii


@pytest.mark.parametrize("text, masked", [
    ("Write to jane.doe+orders@example.co.uk please", "Write to [EMAIL] please"),
    ("a@b.io,c_d@mail-host.org", "[EMAIL],[EMAIL]"),
    ("Call +44 20 7946 0958 today", "Call [PHONE] today"),
    ("my cell is (415) 555-2671.", "my cell is [PHONE]."),
    ("Tel. 030 901820 (Berlin)", "Tel. [PHONE] (Berlin)"),
    ("card 4111 1111 1111 1111 expired", "card [CARD] expired"),
    ("card 5500-0000-0000-0004 and amex 378282246310005", "card [CARD] and amex [CARD]"),
    ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "IBAN [IBAN] thanks"),
    ("pay to DE89370400440532013000", "pay to [IBAN]"),
    ("SSN 536-90-4399 on file", "SSN [NATIONAL_ID] on file"),
    ("NI number AB 12 34 56 C", "NI number [NATIONAL_ID]"),
])
def test_personal_data_is_masked(text, masked):
    assert mask_pii(text).text == masked


@pytest.mark.parametrize("text", [
    "Order #12345678 was shipped on 2024-01-15.",
    "The total is $1,299.99 including 20% VAT.",
    "Revenue rose to EUR 13.5 million from EUR 10.2 million in 2023.",
    "Card ending 1234 was charged.",
    "4111 1111 1111 1112 fails the Luhn check",
    "0000 0000 0000 0000",
    "GB82 WEST 1234 5698 7654 33 has a wrong check digit",
    "SSN-like 000-12-3456 and 666-12-3456 are never issued",
    "version 1.2.3.4, tracking 1Z999AA10123456784",
    "user@localhost is not an address with a domain",
    "call center opens at 09:00-17:00",
])
def test_look_alikes_are_left_alone(text):
    assert mask_pii(text).text == text


def test_findings_report_kind_and_span_and_overlaps_pick_one_kind():
    text = "card 4111111111111111 mail x@y.com"
    result = mask_pii(text)
    assert [f.kind for f in result.findings] == [CARD, EMAIL]
    card = result.findings[0]
    assert text[card.start:card.end] == "4111111111111111"
    assert result.kinds == {CARD, EMAIL}


def test_kinds_can_be_chosen_and_unknown_kinds_are_refused():
    text = "mail x@y.com, call +44 20 7946 0958"
    assert mask_pii(text, PiiConfig(kinds=(EMAIL,))).text == "mail [EMAIL], call +44 20 7946 0958"
    with pytest.raises(UserError, match="unknown personal-data kinds"):
        find_pii(text, PiiConfig(kinds=("PASSPORT",)))


def test_unicode_and_empty_text():
    assert mask_pii("").text == ""
    text = "Привет 👋 مرحبا, écrivez à zoë@exemple.fr"
    assert mask_pii(text).text == "Привет 👋 مرحبا, écrivez à [EMAIL]"
    assert {f.kind for f in find_pii("IBAN: FR14 2004 1010 0505 0001 3M02 606")} == {IBAN}
    assert {f.kind for f in find_pii("+1 415 555 2671")} == {PHONE}
    assert {f.kind for f in find_pii("SSN 536 90 4399")} == {NATIONAL_ID}
