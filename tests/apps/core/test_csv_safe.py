"""CSV exports never hand a spreadsheet a formula (issue 15: CSV injection): the helper, and the
audit trail's export (the knowledge-base export: tests/apps/customer_service/test_kb_export_formulas.py)."""
from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from apps.core.csv_safe import csv_cell, csv_cell_restore, csv_row
from apps.core.models import AuditEvent
from apps.core.services.audit import audit_record

FORMULAS = ['=HYPERLINK("https://evil.example","click")', "@SUM(A1:A9)", "+1+cmd|' /C calc'!A0", "-2+3",
            "\t=1+1", "\r=1+1", "=1+1"]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_formula_becomes_quoted_text_and_restores_exactly(text):
    assert csv_cell(text) == "'" + text
    assert csv_cell_restore(csv_cell(text)) == text


@pytest.mark.parametrize("text", ["plain text", "", "'quoted by hand", "'", "a=b", "caf\u00e9 -", "''=x", "'=x"])
def test_other_texts_round_trip_exactly(text):
    assert csv_cell_restore(csv_cell(text)) == text


def test_plain_texts_and_values_are_left_alone():
    assert csv_row(["where is my order", 3, -1.5, True, None, ""]) == ["where is my order", 3, -1.5, True, None, ""]
    assert csv_cell({"k": "=1"}) == "{'k': '=1'}"  # objects are written as their (safe) text


@pytest.mark.django_db
def test_the_audit_trail_export_quotes_formulas(admin_client):
    audit_record(action=AuditEvent.Action.DATA_EXPORT, target='=HYPERLINK("https://evil.example","x")',
                 details={"what": "test"})
    audit_record(action=AuditEvent.Action.DATA_EXPORT, target="@SUM(A1:A2)")
    events = list(AuditEvent.objects.values_list("pk", flat=True))
    response = admin_client.post(reverse("admin:core_auditevent_changelist"),
                                 {"action": "export_csv", "_selected_action": events})
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted(r["target"] for r in rows) == ["'=HYPERLINK(\"https://evil.example\",\"x\")", "'@SUM(A1:A2)"]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r.values())
