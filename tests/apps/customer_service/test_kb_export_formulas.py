"""The knowledge-base CSV export never hands a spreadsheet a formula, and still imports back
unchanged (issue 15: CSV injection). Questions come from customers (taught from conversations),
so their text is not trusted."""
from __future__ import annotations

import csv
import io

import pytest

from apps.customer_service.models import KBEntry, KBExample
from apps.customer_service.services.kb_io import kb_import_file

pytestmark = pytest.mark.django_db

FORMULA_ROWS = [
    ['=HYPERLINK("https://evil.example","refund")', "@SUM(A1:A9) refunds take five days", "get_refund",
     "+refunds"],
    ["-2+3 where is my order", "\t=1+1 follow it under Order History", "track_order", "-tracking"],
    ["'=already quoted by hand", "'plain quoted answer", "track_order", "\r=cmd"],
]


def _upload() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["question", "answer", "intent", "title"])
    writer.writerows(FORMULA_ROWS)
    return buffer.getvalue().encode()


def test_the_csv_export_quotes_every_formula_and_imports_back_unchanged(operator_client):
    kb_import_file(data=_upload(), name="kb.csv", format="csv")
    stored = sorted(KBEntry.objects.values_list("intent", "title", "answer"))
    questions = sorted(KBExample.objects.values_list("entry__intent", "text"))

    response = operator_client.get("/customer-service/kb/export.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    exported = b"".join(response.streaming_content)
    rows = list(csv.reader(io.StringIO(exported.decode())))
    cells = [cell for row in rows[1:] for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells), cells
    assert "'=HYPERLINK(\"https://evil.example\",\"refund\")" in cells and "'@SUM(A1:A9) refunds take five days" in cells
    # A quote before a formula in an uploaded file means "text", as in a spreadsheet; other quotes stay.
    assert KBExample.objects.filter(text="=already quoted by hand").exists()
    assert "'=already quoted by hand" in cells and "'plain quoted answer" in cells

    kb_import_file(data=exported, name="export.csv", format="csv", replace=True)
    assert sorted(KBEntry.objects.values_list("intent", "title", "answer")) == stored
    assert sorted(KBExample.objects.values_list("entry__intent", "text")) == questions
