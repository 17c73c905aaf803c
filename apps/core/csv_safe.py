"""CSV cells that a spreadsheet shows as text, never runs as a formula ("CSV injection").

Exports carry text that customers and users wrote (knowledge-base questions taught from
conversations, audit targets). A cell such as `=HYPERLINK("https://evil.example",...)` or
`@SUM(...)` would run when an operator opens the file in Excel or LibreOffice, so every CSV export
writes its rows through `csv_row`: a text starting with = + - @ tab or CR gets a leading single
quote, as OWASP recommends. The escape is exactly undone by `csv_cell_restore`, so a file the
suite exported imports back unchanged.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def csv_cell(value: Any) -> Any:
    """`value` as a CSV cell (other objects as their text): a text a spreadsheet would read as a formula gets a leading quote.
    (A text that already starts with a quote before such a character gets one more, so that
    restoring it is exact.)"""
    if value is None or isinstance(value, (bool, int, float)):
        return value  # csv writes these as numbers or words: no formula
    value = str(value)
    if value.startswith(FORMULA_STARTS) or (value.startswith(QUOTE) and value[1:2] and
                                            value[1:2] in (*FORMULA_STARTS, QUOTE)):
        return QUOTE + value
    return value


def csv_cell_restore(text: str) -> str:
    """The inverse of `csv_cell`, for importing a file the suite exported."""
    if text.startswith(QUOTE) and text[1:2] and text[1:2] in (*FORMULA_STARTS, QUOTE):
        return text[1:]
    return text


def csv_row(values: Iterable[Any]) -> list[Any]:
    """One row for `csv.writer(...).writerow`, every cell made safe."""
    return [csv_cell(value) for value in values]
