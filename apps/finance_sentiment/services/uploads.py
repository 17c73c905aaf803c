"""CSV / JSON Lines uploads from the console, parsed into ingestion items row by row.

A row that cannot be read (malformed JSON, too many CSV fields) is passed on as an
`UnreadableRow`, which ingestion rejects with its reason: the upload's other rows are kept,
and every rejection names its row ("row 7" counts the CSV header as row 1; "line 3" for JSON
Lines). A file that is not UTF-8 or lacks a text column is refused as a whole.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Any

from apps.core.parsers import JSONTooDeep, json_loads
from ml_core.data import DataError, check_header_width, jsonl_lines, names_shown

from ..models import IngestBatch
from .ingestion import IngestError, IngestResult, UnreadableRow, documents_ingest


def _decode(content: bytes, name: str) -> str:
    try:
        return content.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise IngestError(f"{name}: line {line} is not valid UTF-8 (byte 0x{content[exc.start]:02x}); "
                          "save the file as UTF-8") from exc


def _csv_items(text: str, name: str) -> tuple[list[Any], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise IngestError(f"{name} is empty") from None
    except csv.Error as exc:
        raise IngestError(f"{name}, row 1: {exc}") from exc
    try:
        check_header_width(header, name)
    except DataError as exc:
        raise IngestError(str(exc)) from None
    if "text" not in header:
        raise IngestError(f"{name} has no 'text' column (columns: {names_shown(header)})")
    items: list[Any] = []
    wheres: list[str] = []
    row_number = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row_number += 1
            items.append(UnreadableRow(f"row {row_number}: {exc}"))
            wheres.append(f"row {row_number}")
            continue
        row_number += 1
        if not any(v.strip() for v in values):
            continue
        wheres.append(f"row {row_number}")
        if len(values) > len(header):
            items.append(UnreadableRow(f"{len(values)} fields but the header has {len(header)} "
                                       "(an unquoted comma in the text?)"))
            continue
        row = {key: value for key, value in zip(header, values) if value.strip() != ""}
        if "tickers" in row:
            row["tickers"] = [t for t in re.split(r"[\s,;|]+", row["tickers"]) if t]
        items.append(row)
    return items, wheres


def _jsonl_items(text: str) -> tuple[list[Any], list[str]]:
    items: list[Any] = []
    wheres: list[str] = []
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        wheres.append(f"line {number}")
        try:
            items.append(json_loads(line))
        except JSONTooDeep as exc:
            items.append(UnreadableRow(str(exc)))
        except ValueError as exc:
            items.append(UnreadableRow(f"not valid JSON ({getattr(exc, 'msg', exc)})"))
    return items, wheres


def upload_parse(*, content: bytes, name: str) -> tuple[list[Any], list[str]]:
    text = _decode(content, name)
    if name.lower().endswith((".jsonl", ".ndjson", ".json")):
        return _jsonl_items(text)
    return _csv_items(text, name)


def upload_ingest(*, content: bytes, name: str, source: str = "", backfill: bool = False,
                  submitted_by=None) -> IngestResult:
    items, wheres = upload_parse(content=content, name=name)
    if not items:
        raise IngestError(f"{name} has no data rows")
    return documents_ingest(items=items, origin=IngestBatch.Origin.UPLOAD, label=name, submitted_by=submitted_by,
                            default_source=source or name, evaluate_alerts=not backfill, wheres=wheres)
