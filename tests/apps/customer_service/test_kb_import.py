"""Importing and exporting the knowledge base: formats, column mapping, grouping, bad rows."""
from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.customer_service.models import KBEntry, KBExample
from apps.customer_service.services.kb import kb_pending_count
from apps.customer_service.services.kb_io import KBImportError, kb_export_lines, kb_import_file, parse_mapping

pytestmark = pytest.mark.django_db

BITEXT_HEADER = ["flags", "instruction", "category", "intent", "response"]
BITEXT_ROWS = [  # written for these tests, in the Bitext layout
    ["B", "how do i cancel order 12345", "ORDER", "cancel_order",
     "Sorry to see you go. Open {{Order History}} and cancel order {{Order Number}}.\r\nWe are here to help."],
    ["BL", "cancel my purchase please", "ORDER", "cancel_order", "To cancel, open {{Order History}}."],
    ["B", "where can i see my invoice", "INVOICE", "check_invoice", "Invoices are under {{Invoices}}."],
    ["BQ", "email me the bill at jane.doe@example.com", "INVOICE", "check_invoice", "Invoices are under {{Invoices}}."],
]


def _csv(header, rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def test_bitext_format_groups_by_intent_and_masks_questions():
    result = kb_import_file(data=_csv(BITEXT_HEADER, BITEXT_ROWS), name="bitext.csv", format="bitext")
    assert (result.rows, result.entries_created, result.examples_created) == (4, 2, 4)
    cancel = KBEntry.objects.get(intent="cancel_order")
    assert cancel.title == "Cancel order" and cancel.tags == ["order"]
    assert cancel.answer.startswith("Sorry to see you go") and "\r" not in cancel.answer
    assert "{{Order Number}}" in cancel.answer  # placeholders are kept
    questions = set(KBExample.objects.values_list("text", flat=True))
    assert "email me the bill at [EMAIL]" in questions and not any("@" in q for q in questions)
    assert set(KBExample.objects.values_list("source", flat=True)) == {"import"}
    # Importing the same file again adds nothing.
    again = kb_import_file(data=_csv(BITEXT_HEADER, BITEXT_ROWS), name="bitext.csv", format="bitext")
    assert (again.entries_created, again.examples_created, again.duplicates_skipped) == (0, 0, 4)


def test_plain_csv_with_column_mapping_groups_by_answer():
    data = _csv(["utterance", "reply", "label", "topic"], [
        ["Do you ship abroad?", "We ship to 30 countries.", "delivery_options", "shipping;abroad"],
        ["International delivery?", "We ship to 30 countries.", "delivery_options", "shipping"],
        ["Express shipping?", "Next day if ordered before 2 pm.", "delivery_options", ""],
    ])
    mapping = parse_mapping("question=utterance,answer=reply,intent=label,tags=topic")
    result = kb_import_file(data=data, name="faq.csv", format="csv", columns=mapping)
    assert (result.entries_created, result.examples_created) == (2, 3)
    abroad = KBEntry.objects.get(answer="We ship to 30 countries.")
    assert abroad.examples.count() == 2 and abroad.tags == ["shipping", "abroad"]
    assert abroad.title.startswith("Delivery options: ")


def test_a_malformed_file_names_the_bad_row_and_stores_nothing():
    data = _csv(["question", "answer", "intent"], [
        ["Where is my order?", "Under Order History.", "track_order"],
        ["How do I pay?", "", "payment_methods"],
    ])
    with pytest.raises(KBImportError) as error:
        kb_import_file(data=data, name="faq.csv", format="csv")
    assert str(error.value) == "faq.csv, row 3: field 'answer': the answer is empty"
    assert not KBEntry.objects.exists() and not KBExample.objects.exists()

    bad_intent = _csv(["question", "answer", "intent"], [["Hi", "Hello", "track (order)"]])
    with pytest.raises(KBImportError, match=r"row 2: field 'intent': intent 'track \(order\)' may only hold"):
        kb_import_file(data=bad_intent, name="faq.csv", format="csv")
    with pytest.raises(KBImportError, match=r"faq.csv: no answer column 'answer' \(columns: question, intent\)"):
        kb_import_file(data=_csv(["question", "intent"], [["Hi", "greet"]]), name="faq.csv", format="csv")
    with pytest.raises(KBImportError, match=r"line 2: not valid JSON"):
        kb_import_file(data=b'{"question": "a", "answer": "b", "intent": "c"}\n{"question": ', name="kb.jsonl",
                       format="jsonl")
    with pytest.raises(KBImportError, match=r"x.csv, line 2: not valid UTF-8 \(byte 0xe9\)"):
        kb_import_file(data=b"question,answer,intent\n" + "caf\xe9".encode("latin-1"), name="x.csv",
                       format="csv")
    assert not KBEntry.objects.exists()


def test_export_round_trips_through_import():
    kb_import_file(data=_csv(BITEXT_HEADER, BITEXT_ROWS), name="bitext.csv", format="bitext")
    exported = "".join(kb_export_lines(format="csv")).encode()
    jsonl = "".join(kb_export_lines(format="jsonl"))
    assert len(jsonl.splitlines()) == 4 and json.loads(jsonl.splitlines()[0])["intent"] == "cancel_order"
    before = sorted(KBExample.objects.values_list("entry__intent", "text"))
    result = kb_import_file(data=exported, name="export.csv", format="csv", replace=True)
    assert result.entries_created == 2
    assert sorted(KBExample.objects.values_list("entry__intent", "text")) == before


def test_import_kb_command_imports_and_embeds(tmp_path, tiny_backbone):
    path = tmp_path / "bitext.csv"
    path.write_bytes(_csv(BITEXT_HEADER, BITEXT_ROWS))
    out = io.StringIO()
    call_command("import_kb", str(path), "--format", "bitext", stdout=out)
    assert "2 new entries" in out.getvalue() and "Computed 6 vectors" in out.getvalue()
    assert kb_pending_count() == 0
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_csv(["question", "answer", "intent"], [["q", "a", ""]]))
    with pytest.raises(CommandError, match=r"nothing was imported: .*bad.csv, row 2: field 'intent': the intent is empty"):
        call_command("import_kb", str(bad), "--format", "csv")
