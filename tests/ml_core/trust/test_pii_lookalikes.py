"""More look-alikes that personal-data masking must leave alone (ml_core.trust.pii), one or more
per pattern beside those of test_pii.py: reserved national-insurance prefixes and suffixes, an
IBAN with an unknown country, an ISBN, short card-like numbers, spelled-out e-mail addresses."""
import pytest

from ml_core.trust.pii import NATIONAL_ID, find_pii, mask_pii


@pytest.mark.parametrize("text", [
    "code BG 12 34 56 A on the form",  # BG is never issued as a NINO prefix
    "ticket QQ123456C",  # Q is not a valid first letter
    "part AB 12 34 56 E",  # suffixes run A-D
    "IBAN XX82 WEST 1234 5698 7654 32",  # no country XX
    "ISBN 978-3-16-148410-0",
    "Invoice 4111-1111",  # too short for a card
    "mail me at jane(at)example.com",
    "phone 555-0100 ext",
])
def test_more_look_alikes_are_left_alone(text):
    assert mask_pii(text).text == text


def test_a_lower_case_nino_is_not_taken_but_the_upper_case_one_is():
    assert mask_pii("NI number ab123456c").text == "NI number ab123456c"
    assert [f.kind for f in find_pii("NI number AB123456C")] == [NATIONAL_ID]
