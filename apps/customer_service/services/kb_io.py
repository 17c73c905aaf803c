"""Import and export the knowledge base as CSV or JSON Lines, with column mapping.

Formats:
 - `bitext`: the Bitext customer-support CSV (instruction, intent, category, response);
 - `csv`: a plain CSV with a header, at least question, answer, intent (title, tags, language
   optional); `jsonl`: the same fields as JSON objects, one per line.
Any column can be mapped (`{"question": "utterance", ...}`). Rows are grouped into entries:
`answer` (default for csv/jsonl) makes one entry per distinct (intent, answer) with the rows'
questions as its examples; `intent` (default for bitext) makes one entry per intent, answered
with the first answer given for it. An entry that already exists (same intent, and same answer
in `answer` grouping) receives the new questions instead of being duplicated, so importing a
file twice adds nothing. The CSV export escapes cells a spreadsheet would run as formulas
(apps.core.csv_safe), and the `csv` import undoes that escape.

The whole file is checked before anything is stored, and stored in one transaction: a bad row
is reported by number (the header is row 1) with the field and the problem, and nothing is
kept.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.core.csv_safe import csv_cell_restore, csv_row
from ml_core.data import names_shown

from ..models import KBEntry, KBExample
from .kb import EntryFields, KBError, clean_question, kb_revision_bump

FORMATS = ("bitext", "csv", "jsonl")
GROUPINGS = ("answer", "intent")
ROLES = ("question", "answer", "intent", "title", "tags", "language", "category")
REQUIRED = ("question", "answer", "intent")
DEFAULT_COLUMNS = {
    "bitext": {"question": "instruction", "answer": "response", "intent": "intent", "category": "category"},
    "csv": {r: r for r in ROLES if r != "category"},
    "jsonl": {r: r for r in ROLES if r != "category"},
}
DEFAULT_GROUPING = {"bitext": "intent", "csv": "answer", "jsonl": "answer"}


class KBImportError(KBError):
    """The file cannot be imported; the message names the row and field. Nothing was stored."""


@dataclass
class ImportRow:
    number: int
    question: str  # "" when the row only defines an entry (an export of an entry with no examples)
    fields: EntryFields
    title_given: bool = False


@dataclass
class ImportResult:
    rows: int = 0
    entries_created: int = 0
    entries_extended: int = 0
    examples_created: int = 0
    duplicates_skipped: int = 0
    intents: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.rows} rows: {self.entries_created} new entries, {self.entries_extended} existing entries "
                f"extended, {self.examples_created} example questions added, {self.duplicates_skipped} duplicates "
                f"skipped, {len(self.intents)} intents")


def parse_mapping(spec: str | dict | None) -> dict[str, str]:
    """{"question": "utterance"} from a dict or "question=utterance,answer=reply"."""
    if not spec:
        return {}
    if isinstance(spec, dict):
        pairs = spec.items()
    else:
        pairs = []
        for part in spec.split(","):
            role, sep, column = part.partition("=")
            if not sep or not role.strip() or not column.strip():
                raise KBImportError(f"column mapping {part!r} is not ROLE=COLUMN")
            pairs.append((role, column))
    mapping = {}
    for role, column in pairs:
        role = role.strip().lower()
        if role not in ROLES:
            raise KBImportError(f"unknown role {role!r} in the column mapping (roles: {', '.join(ROLES)})")
        if str(column).strip():
            mapping[role] = str(column).strip()
    return mapping


def import_too_large(*, size: int, name: str) -> str | None:
    """Why a file of `size` bytes cannot be imported, or None (CUSTOMER_SERVICE_KB_IMPORT_MAX_BYTES)."""
    limit = settings.CUSTOMER_SERVICE_KB_IMPORT_MAX_BYTES
    if size > limit:
        return (f"{name} is {size:,} bytes; the limit is {limit:,} bytes "
                "(CUSTOMER_SERVICE_KB_IMPORT_MAX_BYTES)")
    return None


def _decode(data: bytes, name: str) -> str:
    too_large = import_too_large(size=len(data), name=name)
    if too_large:
        raise KBImportError(too_large)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise KBImportError(f"{name}, line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
                            "save the file as UTF-8") from exc


def _rows(text: str, name: str, jsonl: bool) -> Iterator[tuple[int, dict[str, Any], list[str]]]:
    """(number, row, header) per data row, read as ml_core.data reads labelled files (same messages)."""
    from ml_core.data import DataError, csv_rows, jsonl_rows

    if jsonl:
        rows = jsonl_rows(Path(name), text, max_depth=settings.JSON_MAX_DEPTH)
    else:
        rows = csv_rows(Path(name), text)
    try:
        yield from rows
    except DataError as exc:
        raise KBImportError(str(exc)) from None


def kb_import_read(*, data: bytes, name: str, format: str, columns: dict[str, str] | None = None) -> list[ImportRow]:
    """Check every row of a file and return them cleaned; KBImportError names the first bad row."""
    if format not in FORMATS:
        raise KBImportError(f"unknown format {format!r} (formats: {', '.join(FORMATS)})")
    mapping = {**DEFAULT_COLUMNS[format], **(columns or {})}
    text = _decode(data, name)
    rows = _rows(text, name, jsonl=format == "jsonl")
    unit = "line" if format == "jsonl" else "row"
    result: list[ImportRow] = []
    checked_header = False
    for number, row, header in rows:
        where = f"{name}, {unit} {number}"
        if not checked_header or format == "jsonl":
            for role in REQUIRED:
                if mapping[role] not in row:
                    raise KBImportError(f"{where if format == 'jsonl' else name}: no {role} column "
                                        f"{mapping[role]!r} (columns: {names_shown(header)}); "
                                        f"map it, e.g. {role}=<column>")
            checked_header = True
        if len(result) >= settings.CUSTOMER_SERVICE_KB_IMPORT_MAX_ROWS:
            raise KBImportError(f"{name} has more than {settings.CUSTOMER_SERVICE_KB_IMPORT_MAX_ROWS:,} rows, the "
                                "limit (CUSTOMER_SERVICE_KB_IMPORT_MAX_ROWS); split it")

        def value(role: str, row=row, where=where) -> Any:  # called within this row's iteration
            column = mapping.get(role)
            raw = row.get(column) if column else None
            if format == "csv" and isinstance(raw, str):
                raw = csv_cell_restore(raw)  # undo the export's formula escape
            if raw is not None and not isinstance(raw, (str, int, float, list)):
                raise KBImportError(f"{where}: field {column!r} is {type(raw).__name__}, not text")
            return raw

        try:
            raw_question = str(value("question") or "").strip()
            question = clean_question(raw_question) if raw_question else ""
            tags = [str(value("category"))] if format == "bitext" and value("category") else value("tags")
            title = str(value("title") or "").strip()
            fields = EntryFields.clean(title=title, answer=str(value("answer") or ""),
                                       intent=str(value("intent") or ""), tags=tags,
                                       language=str(value("language") or "en"))
        except KBError as exc:
            column = mapping.get(exc.field, exc.field)
            raise KBImportError(f"{where}: field {column!r}: {exc}") from None
        result.append(ImportRow(number, question, fields, title_given=bool(title)))
    if not result:
        raise KBImportError(f"{name} has no data rows")
    return result


def _entry_title(row: ImportRow, grouping: str) -> str:
    fields, question = row.fields, row.question
    if row.title_given or grouping == "intent" or not question:
        return fields.title
    short = question if len(question) <= 120 else question[:117] + "…"
    return f"{fields.title}: {short}"[:200]


@transaction.atomic
def kb_import(*, rows: list[ImportRow], grouping: str, created_by=None, replace: bool = False) -> ImportResult:
    """Store checked rows in one transaction (vectors come after: services.kb.kb_embed_pending)."""
    if grouping not in GROUPINGS:
        raise KBImportError(f"unknown grouping {grouping!r} (groupings: {', '.join(GROUPINGS)})")
    if replace:
        KBEntry.objects.all().delete()
    revision = kb_revision_bump()
    result = ImportResult(rows=len(rows))
    user = created_by if (created_by and created_by.is_authenticated) else None

    def key(fields: EntryFields) -> tuple:
        return (fields.intent,) if grouping == "intent" else (fields.intent, fields.answer)

    entries: dict[tuple, KBEntry] = {}
    for entry in KBEntry.objects.order_by("id"):
        entries.setdefault((entry.intent,) if grouping == "intent" else (entry.intent, entry.answer), entry)
    existing_ids = {e.pk for e in entries.values()}
    seen = set(KBExample.objects.filter(entry_id__in=existing_ids).values_list("entry_id", "text"))
    touched: set[int] = set()
    new_examples: list[KBExample] = []
    for row in rows:
        k = key(row.fields)
        entry = entries.get(k)
        if entry is None:
            f = row.fields
            entry = KBEntry.objects.create(
                title=_entry_title(row, grouping), answer=f.answer, intent=f.intent,
                tags=f.tags, language=f.language, revision=revision, created_by=user)
            entries[k] = entry
            result.entries_created += 1
        elif entry.pk in existing_ids and entry.pk not in touched:
            touched.add(entry.pk)
            result.entries_extended += 1
        if not row.question:
            continue
        if (entry.pk, row.question) in seen:
            result.duplicates_skipped += 1
            continue
        seen.add((entry.pk, row.question))
        new_examples.append(KBExample(entry=entry, text=row.question, source=KBExample.Source.IMPORT,
                                      revision=revision))
    KBExample.objects.bulk_create(new_examples, batch_size=500)
    result.examples_created = len(new_examples)
    result.intents = sorted({r.fields.intent for r in rows})
    return result


def kb_import_file(*, data: bytes, name: str, format: str, columns: dict[str, str] | None = None,
                   grouping: str | None = None, created_by=None, replace: bool = False) -> ImportResult:
    rows = kb_import_read(data=data, name=name, format=format, columns=columns)
    return kb_import(rows=rows, grouping=grouping or DEFAULT_GROUPING[format], created_by=created_by,
                     replace=replace)


def kb_import_path(*, path: str | Path, format: str, **options) -> ImportResult:
    path = Path(path)
    if not path.is_file():
        raise KBImportError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    return kb_import_file(data=path.read_bytes(), name=str(path), format=format, **options)


# --- export ------------------------------------------------------------------------------------
EXPORT_COLUMNS = ("question", "answer", "intent", "title", "tags", "language", "active", "entry_id")


def _export_records(*, include_inactive: bool = True) -> Iterator[dict[str, Any]]:
    entries = KBEntry.objects.order_by("intent", "id").prefetch_related("examples")
    if not include_inactive:
        entries = entries.filter(is_active=True)
    for entry in entries.iterator(chunk_size=200):
        base = {"answer": entry.answer, "intent": entry.intent, "title": entry.title, "tags": entry.tags,
                "language": entry.language, "active": entry.is_active, "entry_id": entry.pk}
        questions = [e.text for e in entry.examples.all()] or [""]
        for question in questions:
            yield {"question": question, **base}


def kb_export_lines(*, format: str) -> Iterator[str]:
    """The knowledge base as CSV or JSON Lines, one example question per line (re-importable)."""
    if format == "jsonl":
        for record in _export_records():
            yield json.dumps(record, ensure_ascii=False) + "\n"
        return
    if format != "csv":
        raise KBError(f"unknown export format {format!r} (csv or jsonl)")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for record in _export_records():
        writer.writerow(csv_row(";".join(record[c]) if c == "tags" else record[c] for c in EXPORT_COLUMNS))
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()

