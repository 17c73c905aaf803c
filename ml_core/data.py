"""Load, validate and split labelled text (CSV or JSON Lines).

Every problem a user can fix is a `DataError` whose message names the file, the row and the
field: an empty text, an unknown label, a missing column, bytes that are not in the declared
encoding, malformed JSON, or a class with too few examples to train and validate on.

Rows are numbered as a spreadsheet shows them: the CSV header is row 1, the first data row is
row 2; JSON Lines are numbered by line.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError


class DataError(UserError):
    """A data file cannot be used as it is; the message names the file, row and field."""


# Deeper JSON is refused: Python's decoder recurses once per level and fails with RecursionError
# near 1,000 levels, and every walk over the result (NUL checks, rendering, jsonb) recurses too.
MAX_JSON_DEPTH = 64


class JSONTooDeep(ValueError):
    """JSON nested deeper than the limit. A ValueError, as malformed JSON is; `msg` as JSONDecodeError's."""

    def __init__(self, max_depth: int) -> None:
        self.msg = f"JSON nested deeper than {max_depth} levels"
        self.max_depth = max_depth
        super().__init__(self.msg)


def _deeper_than(value: Any, max_depth: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def json_loads_bounded(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, **options: Any) -> Any:
    """json.loads for input from users: JSONTooDeep beyond `max_depth` nested arrays / objects.

    The decoder's own RecursionError (near 1,000 levels) becomes JSONTooDeep; shallower input is
    measured after parsing, and only when it holds more brackets than the limit (a C-speed count).
    """
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise JSONTooDeep(max_depth) from None
    opening = (b"[", b"{") if isinstance(text, (bytes, bytearray)) else ("[", "{")
    if isinstance(value, (dict, list)) and text.count(opening[0]) + text.count(opening[1]) > max_depth \
            and _deeper_than(value, max_depth):
        raise JSONTooDeep(max_depth)
    return value


@dataclass
class LabelledTexts:
    """Texts with one label each, plus each row's other columns (source, language...) in `meta`."""

    texts: list[str]
    labels: list[str]
    meta: list[dict[str, Any]] = field(default_factory=list)
    # Where the rows came from and what loading did to them (duplicates dropped...).
    source: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.meta:
            self.meta = [{} for _ in self.texts]
        if not (len(self.texts) == len(self.labels) == len(self.meta)):
            raise ValueError(
                f"texts ({len(self.texts)}), labels ({len(self.labels)}) and meta ({len(self.meta)}) "
                "must have the same length"
            )

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def label_set(self) -> list[str]:
        return sorted(set(self.labels))

    def subset(self, indices: Iterable[int], source: str | None = None) -> LabelledTexts:
        indices = list(indices)
        return LabelledTexts(
            texts=[self.texts[i] for i in indices], labels=[self.labels[i] for i in indices],
            meta=[dict(self.meta[i]) for i in indices], source=self.source if source is None else source,
        )

    def where(self, predicate: Callable[[str, str, dict], bool]) -> LabelledTexts:
        """The rows for which predicate(text, label, meta) is true (e.g. one agreement level)."""
        return self.subset(
            i for i, (t, y, m) in enumerate(zip(self.texts, self.labels, self.meta)) if predicate(t, y, m)
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready description, stored with every model trained on these rows."""
        return {"source": self.source, "n": len(self), "label_counts": label_counts(self), **self.stats}


def texts_digest(*parts: LabelledTexts) -> str:
    """SHA-256 of the distinct texts of `parts`, whatever their order or split: what a model saw,
    so a folder can later be checked against the texts it is said to have been trained on."""
    digest = hashlib.sha256()
    for text in sorted({text for part in parts for text in part.texts}):
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def label_counts(data: LabelledTexts) -> dict[str, int]:
    """Examples per label, most frequent first (ties by name)."""
    counts = Counter(data.labels)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def parse_label_map(spec: str | Mapping[str, str] | None, *, files: bool = True) -> dict[str, str] | None:
    """A label map from a dict, a JSON object, a JSON file (unless `files` is false: a web form's
    value must not name a server path), or "0=bearish,1=bullish"."""
    if spec is None or isinstance(spec, Mapping):
        return dict(spec) if spec is not None else None
    spec = spec.strip()
    if not spec:
        return None
    if spec.startswith("{"):
        try:
            mapping = json_loads_bounded(spec)
        except ValueError as exc:
            raise DataError(f"label map is not valid JSON: {exc}") from exc
    elif files and Path(spec).is_file():
        try:
            mapping = json_loads_bounded(Path(spec).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"label map file {spec} is not valid JSON: {exc}") from exc
    else:
        mapping = {}
        for pair in spec.split(","):
            raw, sep, canonical = pair.partition("=")
            if not sep or not raw.strip() or not canonical.strip():
                raise DataError(f"label map entry {pair!r} is not RAW=LABEL")
            mapping[raw.strip()] = canonical.strip()
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise DataError("label map must map raw labels to label names (strings)")
    return {str(k).strip(): v.strip() for k, v in mapping.items()}


def decode_text(raw: bytes, name: str | Path, encoding: str = "utf-8", *,
                hint: str = "give the file's encoding, e.g. --encoding latin-1") -> str:
    """`raw` as text, without a leading BOM; DataError naming the line of the first bad byte.

    `hint` ends that message: the CLI's flag by default; callers serving people on the web
    pass their own ("save the file as UTF-8").
    """
    try:
        text = raw.decode(encoding)
    except LookupError as exc:
        raise DataError(f"{name}: unknown encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{name}: line {line} is not valid {encoding} (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}); {hint}"
        ) from exc
    return text.removeprefix("\ufeff")  # a BOM written by spreadsheet programs


def _decode(path: Path, encoding: str) -> str:
    return decode_text(path.read_bytes(), path, encoding)


# A header wider than this is refused: no labelled or document file needs it, and every message
# that lists the columns would grow with it (names_shown bounds those lists too).
MAX_COLUMNS = 1_000


def names_shown(names: Sequence[str], limit: int = 8) -> str:
    """The first `limit` names and how many more: "a, b, c and 999,997 more" (bounded error text)."""
    shown = ", ".join(str(n)[:80] for n in names[:limit]) or "none"
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit:,} more"


def check_header_width(header: Sequence[str], name: str | Path) -> None:
    if len(header) > MAX_COLUMNS:
        raise DataError(f"{name}: the header has {len(header):,} columns ({names_shown(header, 3)}); "
                        f"at most {MAX_COLUMNS:,} are read")


def csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any], list[str]]]:
    """(row number, row, header) per data row of a CSV (TSV for a .tsv path) text; DataError names
    the row at fault. The reader of load_labelled, for apps that read other row layouts."""
    dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path} is empty: no header row") from None
    except csv.Error as exc:
        raise DataError(f"{path}, row 1 (the header): {exc}") from None
    check_header_width(header, path)
    header = [h.strip() for h in header]
    row_number = 1
    try:
        for values in reader:
            row_number += 1
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) > len(header):
                raise DataError(
                    f"{path}, row {row_number} (line {reader.line_num}): {len(values)} fields but the "
                    f"header has {len(header)} (an unquoted delimiter in the text?)"
                )
            yield row_number, dict(zip(header, values)), header
    except csv.Error as exc:
        raise DataError(f"{path}, row {row_number + 1} (line {reader.line_num}): {exc}") from exc


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSON Lines text: split on \n only (a \r before it dropped). str.splitlines
    would also split inside strings at U+2028, U+0085 and other characters JSON leaves unescaped."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def jsonl_rows(path: Path, text: str, *, max_depth: int = MAX_JSON_DEPTH
                ) -> Iterator[tuple[int, dict[str, Any], list[str]]]:
    """(line number, object, its keys) per non-blank line of a JSON Lines text; DataError names the
    line at fault. The reader of load_labelled, for apps that read other row layouts."""
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        try:
            row = json_loads_bounded(line, max_depth=max_depth)
        except JSONTooDeep as exc:
            raise DataError(f"{path}, line {number}: {exc}") from None
        except ValueError as exc:
            raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise DataError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}")
        yield number, row, list(row)


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in {".jsonl", ".ndjson", ".json"}


def _records(path: Path, encoding: str, columns: dict[str, str], *, text: str | None = None,
             jsonl: bool | None = None) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(where, number, row) for each data row, after checking that `columns` ({role: name}) exist."""
    if text is None:
        if not path.is_file():
            raise DataError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
        text = _decode(path, encoding)
    jsonl = _is_jsonl(path) if jsonl is None else jsonl
    rows = jsonl_rows(path, text) if jsonl else csv_rows(path, text)
    unit = "line" if jsonl else "row"
    checked = False
    for number, row, header in rows:
        where = f"{path}, {unit} {number}"
        if not checked or jsonl:  # a CSV header is checked once, each JSON object on its own
            for role, name in columns.items():
                if name not in row:
                    raise DataError(f"{path if not jsonl else where} has no {role} column {name!r} "
                                    f"(columns: {names_shown(header)})")
            checked = True
        yield where, number, row


def _text_field(row: dict[str, Any], column: str, where: str) -> str:
    value = row[column]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{where}: field {column!r} is empty")
    if not isinstance(value, str):
        raise DataError(f"{where}: field {column!r} is not text ({type(value).__name__})")
    return value.replace("\r\n", "\n").strip()


def load_texts(path: str | Path, *, text_col: str = "text", encoding: str = "utf-8") -> list[str]:
    """Unlabelled texts to score: a CSV/JSON Lines column, or a .txt file with one text per line."""
    path = Path(path)
    if path.suffix.lower() == ".txt":
        if not path.is_file():
            raise DataError(f"{path} does not exist")
        texts = [line.strip() for line in _decode(path, encoding).splitlines()]
        return [t for t in texts if t]
    return [_text_field(row, text_col, where) for where, _, row in _records(path, encoding, {"text": text_col})]


def load_labelled(
    path: str | Path,
    *,
    text_col: str = "text",
    label_col: str = "label",
    label_map: Mapping[str, str] | str | None = None,
    allowed_labels: Sequence[str] | None = None,
    encoding: str = "utf-8",
    dedupe: bool = True,
    min_per_class: int = 2,
    text: str | None = None,
    jsonl: bool | None = None,
) -> LabelledTexts:
    """Read labelled texts from a CSV (header row) or JSON Lines file.

    With `text` (the content, decoded by the caller: an upload) nothing is read from disk: `path`
    only names the data in messages, and a label map is never read from a file. `jsonl` overrides
    the format that the suffix implies.

    `label_map` renames raw labels (e.g. {"0": "bearish"}); labels are stripped of surrounding
    space. With `allowed_labels`, any other label is an error naming its row. With `dedupe`,
    a repeated (text, label) pair is kept once; the same text under two labels is kept and
    counted in `stats["conflicting_texts"]`. Every label must have `min_per_class` examples.
    """
    path = Path(path)
    label_map = parse_label_map(label_map, files=text is None)
    allowed = set(allowed_labels) if allowed_labels is not None else None
    jsonl = _is_jsonl(path) if jsonl is None else jsonl
    unit = "line" if jsonl else "row"
    texts: list[str] = []
    labels: list[str] = []
    meta: list[dict[str, Any]] = []
    first_row: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    labels_of_text: dict[str, set[str]] = {}
    duplicates = 0
    for where, number, row in _records(path, encoding, {"text": text_col, "label": label_col}, text=text,
                                       jsonl=jsonl):
        item_text = _text_field(row, text_col, where)
        raw_label = row[label_col]
        if raw_label is None or (isinstance(raw_label, str) and not raw_label.strip()):
            raise DataError(f"{where}: field {label_col!r} is empty")
        if isinstance(raw_label, (dict, list)):
            raise DataError(f"{where}: field {label_col!r} must be one label, got {type(raw_label).__name__}")
        raw_label = str(raw_label).strip()
        label = label_map.get(raw_label, raw_label) if label_map else raw_label
        if allowed is not None and label not in allowed:
            raise DataError(
                f"{where}: field {label_col!r} has unknown label {raw_label!r} "
                f"(known: {', '.join(sorted(allowed))})"
            )
        if dedupe:
            if (item_text, label) in seen:
                duplicates += 1
                continue
            seen.add((item_text, label))
        labels_of_text.setdefault(item_text, set()).add(label)
        first_row.setdefault(label, number)
        texts.append(item_text)
        labels.append(label)
        meta.append({k: v for k, v in row.items() if k not in (text_col, label_col)})

    if not texts:
        raise DataError(f"{path} has no data rows")
    data = LabelledTexts(texts, labels, meta, source=str(path), stats={
        "duplicates_dropped": duplicates,
        "conflicting_texts": sum(1 for s in labels_of_text.values() if len(s) > 1),
    })
    check_min_per_class(data, min_per_class, first_row=first_row, unit=unit)
    return data


def check_min_per_class(data: LabelledTexts, min_per_class: int, *, first_row: Mapping[str, int] | None = None,
                        unit: str = "row") -> None:
    if min_per_class <= 1:
        return
    rare = [(label, n) for label, n in label_counts(data).items() if n < min_per_class]
    if rare:
        label, n = min(rare, key=lambda kv: (kv[1], kv[0]))
        at = f" ({unit} {first_row[label]})" if first_row and label in first_row else ""
        others = f"; {len(rare) - 1} more classes are short too" if len(rare) > 1 else ""
        raise DataError(
            f"{data.source or 'data'}: class {label!r}{at} has {n} example{'s' if n != 1 else ''}, "
            f"need at least {min_per_class} per class{others}"
        )


def stratified_split(data: LabelledTexts, *, test_fraction: float, seed: int) -> tuple[LabelledTexts, LabelledTexts]:
    """Split keeping each label's share in both parts (at least one example of each per part).

    Deterministic for a given seed; the order inside each part follows the input.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(i)
    rng = random.Random(seed)
    test_indices: list[int] = []
    for label in sorted(by_label):
        indices = by_label[label]
        if len(indices) < 2:
            raise DataError(
                f"{data.source or 'data'}: class {label!r} has 1 example; a split needs at least 2 per class"
            )
        shuffled = indices[:]
        rng.shuffle(shuffled)
        n_test = min(len(indices) - 1, max(1, round(test_fraction * len(indices))))
        test_indices.extend(shuffled[:n_test])
    test_set = set(test_indices)
    train = data.subset(i for i in range(len(data)) if i not in test_set)
    test = data.subset(sorted(test_set))
    return train, test
