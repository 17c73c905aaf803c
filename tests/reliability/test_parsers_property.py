"""Property tests (hypothesis) of every parser and import.

Whatever the input, each one either parses it or raises the project's own error naming the
problem (ml_core's DataError / UserError, KBImportError, IngestError, BatchError,
RecsysDataError) — never another exception — and a failed all-or-nothing import leaves the
database as it was; batch services store exactly the rows they report accepted.
"""
from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apps.customer_service.models import KBEntry, KBExample
from apps.customer_service.services.kb_io import FORMATS, KBImportError, kb_import_file, kb_import_read
from apps.finance_sentiment.models import Document, IngestBatch, LabelledExample, LabelledSet
from apps.finance_sentiment.services.ingestion import IngestError, documents_ingest
from apps.finance_sentiment.services.training import labelled_set_upload
from apps.finance_sentiment.services.uploads import upload_ingest, upload_parse
from apps.recommendation.models import EndUser, Interaction, Item
from apps.recommendation.services import (
    BatchError,
    interactions_record,
    items_upsert,
    movielens_import,
    users_upsert,
)
from ml_core.data import DataError, LabelledTexts, load_labelled, load_texts
from ml_core.errors import UserError
from ml_core.recsys.data import RecsysDataError, load_movielens, read_interactions_file

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
DB_PROPERTY = settings(PROPERTY, max_examples=40)

# Text as people paste it: any Unicode a file can hold (no lone surrogates), with the awkward
# characters made likely: NUL, line and paragraph separators, NEL, BOM, zero-width joiners, RTL marks.
AWKWARD = st.sampled_from(["\x00", "\u2028", "\u2029", "\x85", "\ufeff", "\u200d", "\u200b", "\u202e",
                           "\r", "\r\n", "\n", '"', ",", "\t", "|", "@", "🙂", "مرحبا", "שלום"])
TEXT = st.lists(st.one_of(st.text(st.characters(exclude_categories=["Cs"]), max_size=12), AWKWARD),
                max_size=8).map("".join)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)


def _csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8", errors="surrogatepass")


def _jsonl_bytes(rows: list) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode("utf-8", errors="surrogatepass")


# --- ml_core.data: labelled CSV / JSON Lines with column mapping --------------------------------------
LABELS = st.sampled_from(["positive", "negative", " neutral ", "0", "1"])
GOOD_TEXT = TEXT.filter(lambda t: t.strip() and "\x00" not in t)


@PROPERTY
@given(rows=st.lists(st.tuples(GOOD_TEXT, LABELS), min_size=1, max_size=8),
       fmt=st.sampled_from(["csv", "jsonl"]), text_col=st.sampled_from(["text", "sentence", "Satz ✓"]))
def test_well_formed_labelled_files_load_back_exactly(tmp_path_factory, rows, fmt, text_col):
    path = tmp_path_factory.mktemp("labelled") / f"data.{fmt}"
    if fmt == "csv":
        path.write_bytes(_csv_bytes([[text_col, "y"], *[[t, y] for t, y in rows]]))
    else:
        path.write_bytes(_jsonl_bytes([{text_col: t, "y": y} for t, y in rows]))
    data = load_labelled(path, text_col=text_col, label_col="y", dedupe=False, min_per_class=1)
    assert data.texts == [t.replace("\r\n", "\n").strip() for t, _ in rows]
    assert data.labels == [y.strip() for _, y in rows]


@PROPERTY
@given(content=st.one_of(st.binary(max_size=300), TEXT.map(lambda t: t.encode("utf-8")),
                         st.lists(JSON, max_size=5).map(_jsonl_bytes),
                         st.lists(st.lists(TEXT, max_size=4), max_size=5).map(_csv_bytes)),
       suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".txt"]),
       mapping=st.sampled_from([("text", "label"), ("a", "b"), ("", "")]))
@example(content=b'{"text": "a\xe2\x80\xa8b", "label": "x"}', suffix=".jsonl", mapping=("text", "label"))
def test_any_file_either_loads_or_raises_a_data_error(tmp_path_factory, content, suffix, mapping):
    path = tmp_path_factory.mktemp("any") / f"data{suffix}"
    path.write_bytes(content)
    try:
        data = load_labelled(path, text_col=mapping[0], label_col=mapping[1], min_per_class=1)
    except DataError as exc:
        assert str(exc)
    else:
        assert isinstance(data, LabelledTexts) and len(data.texts) == len(data.labels) > 0
    try:
        texts = load_texts(path, text_col=mapping[0])
    except DataError as exc:
        assert str(exc)
    else:
        assert all(isinstance(t, str) and t for t in texts)


# --- customer service: knowledge-base import (CSV / JSON Lines / Bitext) --------------------------------
KB_ROLES = ["question", "answer", "intent", "title", "tags", "language", "instruction", "response", "category",
            "other"]
KB_ROW = st.dictionaries(st.sampled_from(KB_ROLES), st.one_of(TEXT, JSON), max_size=8)
PLAUSIBLE_KB_ROW = st.fixed_dictionaries(
    {"question": TEXT, "answer": TEXT, "intent": st.sampled_from(["track_order", "get refund", "bad intent!", ""])},
    optional={"title": TEXT, "tags": st.one_of(TEXT, st.lists(TEXT, max_size=3)), "language": st.sampled_from(
        ["en", "pt-BR", "english", ""])})


def _kb_file(rows: list[dict], fmt: str) -> bytes:
    if fmt == "jsonl":
        return _jsonl_bytes(rows)
    header = ["instruction", "response", "intent", "category"] if fmt == "bitext" else KB_ROLES[:6]
    alias = {"instruction": "question", "response": "answer"} if fmt == "bitext" else {}
    return _csv_bytes([header, *[[str(r.get(alias.get(h, h), "")) for h in header] for r in rows]])


def _kb_counts() -> tuple[int, int]:
    return KBEntry.objects.count(), KBExample.objects.count()


@DB_PROPERTY
@given(rows=st.lists(st.one_of(KB_ROW, PLAUSIBLE_KB_ROW), min_size=1, max_size=6), fmt=st.sampled_from(FORMATS),
       raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_kb_import_stores_everything_or_nothing_and_names_the_row(db, rows, fmt, raw):
    content = raw if raw is not None else _kb_file(rows, fmt)
    before = _kb_counts()
    try:
        result = kb_import_file(data=content, name="faq." + ("csv" if fmt != "jsonl" else "jsonl"), format=fmt)
    except KBImportError as exc:
        assert str(exc) and _kb_counts() == before  # nothing half-stored
    else:
        entries, examples = _kb_counts()
        assert entries - before[0] == result.entries_created
        assert examples - before[1] == result.examples_created
        assert "\x00" not in "".join(KBExample.objects.values_list("text", flat=True))


@PROPERTY
@given(content=st.binary(max_size=300), fmt=st.sampled_from(FORMATS),
       columns=st.dictionaries(st.sampled_from(KB_ROLES[:7]), TEXT, max_size=3))
def test_kb_import_reader_accepts_or_refuses_any_bytes(content, fmt, columns):
    try:
        rows = kb_import_read(data=content, name="upload.csv", format=fmt, columns=columns)
    except KBImportError as exc:
        assert str(exc)
    else:
        assert rows and all(row.fields.answer and row.fields.intent for row in rows)


# --- finance: CSV / JSON Lines uploads and the batch API's validation --------------------------------------
DOCUMENT = st.fixed_dictionaries({"text": st.one_of(TEXT, JSON)}, optional={
    "title": st.one_of(TEXT, JSON), "source": TEXT, "url": st.one_of(TEXT, st.just("https://news.example/a")),
    "published_at": st.one_of(TEXT, JSON, st.sampled_from(
        ["2024-05-01", "2024-05-01T09:30:00+14:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-12:00",
         "1969-12-31", "2024-02-30"])),
    "language": st.one_of(TEXT, st.just("pt-BR")), "tickers": st.one_of(st.lists(TEXT, max_size=3), JSON),
})


def _documents_stored(result) -> None:
    stored = Document.objects.filter(batch=result.batch).count()
    assert stored == result.batch.accepted == len(result.document_ids)
    assert result.batch.accepted + result.batch.rejected == result.batch.received  # duplicates count as rejected
    for rejection in result.rejections:
        assert rejection.field and rejection.reason  # each refusal names the field and why


@DB_PROPERTY
@given(items=st.lists(st.one_of(DOCUMENT, JSON), max_size=6))
def test_finance_batch_validation_stores_the_good_items_and_names_the_bad(db, items):
    batches = IngestBatch.objects.count()
    try:
        result = documents_ingest(items=items, origin=IngestBatch.Origin.API, label="property")
    except IngestError as exc:
        assert str(exc) and IngestBatch.objects.count() == batches
    else:
        _documents_stored(result)


@DB_PROPERTY
@given(rows=st.lists(DOCUMENT, min_size=1, max_size=5), fmt=st.sampled_from(["csv", "jsonl"]),
       raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_finance_upload_parses_any_file_or_refuses_it_whole(db, rows, fmt, raw):
    if raw is None:
        if fmt == "jsonl":
            raw = _jsonl_bytes(rows)
        else:
            header = ["text", "title", "source", "url", "published_at", "language", "tickers"]
            raw = _csv_bytes([header, *[[str(r.get(h, "")) for h in header] for r in rows]])
    name = f"news.{fmt}"
    try:
        items, wheres = upload_parse(content=raw, name=name)
    except IngestError as exc:
        assert str(exc)
        return
    assert len(items) == len(wheres)
    documents = Document.objects.count()
    try:
        result = upload_ingest(content=raw, name=name)
    except IngestError as exc:
        assert str(exc) and Document.objects.count() == documents
    else:
        _documents_stored(result)


@DB_PROPERTY
@given(content=st.one_of(st.binary(max_size=300), st.lists(st.tuples(GOOD_TEXT, LABELS), max_size=6).map(
    lambda rows: "\n".join(f"{t}@{y}" for t, y in rows).encode("latin-1", errors="replace"))),
       suffix=st.sampled_from([".txt", ".csv", ".jsonl", ".xlsx"]))
def test_labelled_set_upload_stores_all_rows_or_none(db, content, suffix):
    before = (LabelledSet.objects.count(), LabelledExample.objects.count())
    try:
        labelled = labelled_set_upload(name="prop", file_name=f"set{suffix}", content=content,
                                       label_map="0=negative,1=positive")
    except DataError as exc:
        assert str(exc) and (LabelledSet.objects.count(), LabelledExample.objects.count()) == before
    else:
        assert LabelledExample.objects.filter(labelled_set=labelled).count() == labelled.size > 0


# --- recommendation: item / user / event batches and the MovieLens files ----------------------------------
ITEM = st.fixed_dictionaries({"id": st.one_of(TEXT, st.integers(), JSON), "title": st.one_of(TEXT, JSON)}, optional={
    "description": st.one_of(TEXT, JSON), "categories": st.one_of(st.lists(TEXT, max_size=3), JSON),
    "attributes": JSON, "is_active": JSON, "extra": JSON})
EVENT = st.fixed_dictionaries({"user": st.one_of(TEXT, st.integers()), "item": st.sampled_from(["i-1", "i-2", "nope"]),
                               "kind": st.sampled_from(["view", "click", "like", "rating", "purchase", "bad"])},
                              optional={"value": JSON, "event_id": st.one_of(TEXT, JSON),
                                        "timestamp": st.one_of(JSON, st.sampled_from(
                                            [1e20, -1, 0, 1714550400, "2024-05-01T12:30:00Z",
                                             "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-12:00"]))})


def _check_batch_result(result, rows) -> None:
    assert result.accepted + result.duplicates + len(result.rejected) == len(rows)
    for rejection in result.rejected:
        assert 0 <= rejection["index"] < len(rows) and rejection["errors"]


@DB_PROPERTY
@given(items=st.one_of(st.lists(st.one_of(ITEM, JSON), max_size=6), JSON))
def test_item_upserts_store_the_accepted_rows_and_name_the_rest(db, items):
    before = Item.objects.count()
    try:
        result = items_upsert(items=items, start_embedding=False)
    except BatchError as exc:
        assert str(exc) and Item.objects.count() == before
    else:
        _check_batch_result(result, items)
        assert Item.objects.count() - before == result.created


@DB_PROPERTY
@given(users=st.one_of(st.lists(st.one_of(st.fixed_dictionaries({"id": st.one_of(TEXT, st.integers())},
                                                                optional={"attributes": JSON}), JSON), max_size=6),
                       JSON),
       events=st.one_of(st.lists(st.one_of(EVENT, JSON), max_size=6), JSON))
def test_user_and_event_batches_store_the_accepted_rows(db, users, events):
    items_upsert(items=[{"id": "i-1", "title": "One"}, {"id": "i-2", "title": "Two"}], start_embedding=False)
    before = EndUser.objects.count()
    try:
        result = users_upsert(users=users)
    except BatchError as exc:
        assert str(exc) and EndUser.objects.count() == before
    else:
        _check_batch_result(result, users)
        assert EndUser.objects.count() - before == result.created
    interactions = Interaction.objects.count()
    try:
        result = interactions_record(events=events)
    except BatchError as exc:
        assert str(exc) and Interaction.objects.count() == interactions
    else:
        _check_batch_result(result, events)
        assert Interaction.objects.count() - interactions <= result.created


MOVIELENS_OK = {
    "u.genre": "unknown|0\nComedy|1\n\n",
    "u.item": "1|Toy Story (1995)|01-Jan-1995||http://x|0|1\n2|GoldenEye (1995)|01-Jan-1995||http://x|1|0\n",
    "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
    "u.data": "1\t1\t5\t874965758\n2\t2\t3\t876893171\n1\t2\t4\t878542960\n",
}


@DB_PROPERTY
@given(broken=st.sampled_from(sorted(MOVIELENS_OK)), content=st.one_of(
    st.binary(max_size=200), TEXT.map(lambda t: t.encode("utf-8")),
    st.lists(st.lists(TEXT, max_size=7).map("|".join), max_size=4).map(lambda lines: "\n".join(lines).encode())),
       keep_rest=st.booleans())
@example(broken="u.data", content=MOVIELENS_OK["u.data"].encode(), keep_rest=True)
def test_movielens_import_loads_or_names_the_bad_line_and_stores_nothing(db, tmp_path_factory, broken, content,
                                                                         keep_rest):
    folder = tmp_path_factory.mktemp("ml-100k")
    for name, text in MOVIELENS_OK.items():
        (folder / name).write_bytes(content if name == broken else text.encode("latin-1"))
    if not keep_rest:
        (folder / "u.user").unlink(missing_ok=broken != "u.user")
    counts = (Item.objects.count(), EndUser.objects.count(), Interaction.objects.count())
    try:
        summary = movielens_import(folder=folder, prefix="ml-")
    except RecsysDataError as exc:
        assert isinstance(exc, UserError) and str(exc)
        assert (Item.objects.count(), EndUser.objects.count(), Interaction.objects.count()) == counts
    else:
        assert summary.items > 0 and Interaction.objects.count() >= summary.new_interactions
    try:
        load_movielens(folder)
        read_interactions_file(folder / "u.data")
    except RecsysDataError:
        pass


def test_jsonl_is_split_on_newlines_only(tmp_path):
    """U+2028 and NEL are legal unescaped inside JSON strings (json.dumps(ensure_ascii=False) writes
    them): a JSON Lines reader that splits on them breaks valid files."""
    path = tmp_path / "data.jsonl"
    texts = ["first\u2028line", "nel\x85here", "para\u2029graph"]
    path.write_bytes(_jsonl_bytes([{"text": t, "label": "x"} for t in texts]))
    assert load_labelled(path, min_per_class=1).texts == texts


@pytest.mark.django_db
def test_nul_characters_are_refused_by_name_everywhere_they_could_be_stored():
    from apps.customer_service.services.kb import KBError, clean_question

    with pytest.raises(KBError, match="NUL"):
        clean_question("where is\x00 my order")
    with pytest.raises(KBImportError, match="NUL"):
        kb_import_file(data=b"question,answer,intent\nhi,hello\x00there,greet\n", name="faq.csv", format="csv")
    result = documents_ingest(items=[{"text": "ok text", "title": "bad\x00title"}], origin=IngestBatch.Origin.API)
    assert [(r.field, "NUL" in r.reason) for r in result.rejections] == [("title", True)]
    items = items_upsert(items=[{"id": "a\x00b", "title": "t"}, {"id": "c", "title": "t", "attributes": {"k": "\x00"}}],
                         start_embedding=False)
    assert [sorted(r["errors"]) for r in items.rejected] == [["id"], ["attributes"]]
    assert not Item.objects.exists() and not Document.objects.exists()


# --- size and row limits of every upload and import: a clear 413 / 400 naming the limit, nothing stored ----
def test_api_bodies_over_api_max_request_bytes_get_413_naming_the_limit(operator_client, settings):
    settings.API_MAX_REQUEST_BYTES = 1000
    body = json.dumps({"items": [{"id": "big", "title": "t", "description": "d" * 2000}]})
    response = operator_client.post("/api/v1/recommendation/items/", body, content_type="application/json")
    assert response.status_code == 413 and "API_MAX_REQUEST_BYTES" in response.json()["detail"]
    chat = operator_client.post("/api/v1/chat/", body, content_type="application/json")
    assert chat.status_code == 413
    assert not Item.objects.exists()


def test_finance_batch_over_its_byte_and_item_limits(operator_client, settings):
    settings.FINANCE_MAX_REQUEST_BYTES, settings.FINANCE_MAX_BATCH_ITEMS = 2000, 3
    big = operator_client.post("/api/v1/finance/documents/", json.dumps({"documents": [{"text": "x" * 3000}]}),
                               content_type="application/json")
    assert big.status_code == 413 and "2,000" in big.json()["detail"]
    many = operator_client.post("/api/v1/finance/documents/",
                                json.dumps({"documents": [{"text": f"news {i}"} for i in range(4)]}),
                                content_type="application/json")
    assert many.status_code == 400 and "at most 3" in many.json()["documents"][0]
    assert not Document.objects.exists()


def test_recommendation_batches_over_their_row_limit(operator_client, settings):
    settings.RECOMMENDATION_MAX_BATCH_ROWS = 2
    response = operator_client.post("/api/v1/recommendation/items/",
                                    {"items": [{"id": str(i), "title": "t"} for i in range(3)]},
                                    content_type="application/json")
    assert response.status_code == 400 and "RECOMMENDATION_MAX_BATCH_ROWS" in response.json()["detail"]
    assert not Item.objects.exists()


def _upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


def test_console_uploads_over_their_byte_limits_get_413(operator_client, admin_client, settings):
    settings.FINANCE_MAX_UPLOAD_BYTES = settings.CUSTOMER_SERVICE_KB_IMPORT_MAX_BYTES = 100
    big = b"text\n" + b"a long line of news\n" * 20
    response = operator_client.post("/finance/upload/", {"file": _upload("news.csv", big)})
    assert response.status_code == 413 and "FINANCE_MAX_UPLOAD_BYTES" in response.content.decode()
    response = admin_client.post("/finance/models/sets/", {"file": _upload("set.csv", big)})
    assert response.status_code == 413 and "FINANCE_MAX_UPLOAD_BYTES" in response.content.decode()
    kb = b"question,answer,intent\n" + b"where is it,here it is,where\n" * 10
    response = operator_client.post("/customer-service/kb/import/", {"file": _upload("faq.csv", kb), "format": "csv"})
    assert response.status_code == 413 and "CUSTOMER_SERVICE_KB_IMPORT_MAX_BYTES" in response.content.decode()
    assert not Document.objects.exists() and not LabelledSet.objects.exists() and not KBEntry.objects.exists()


def test_imports_over_their_row_limits_name_the_limit(operator_client, settings):
    settings.CUSTOMER_SERVICE_KB_IMPORT_MAX_ROWS, settings.FINANCE_MAX_LABELLED_ROWS = 2, 2
    with pytest.raises(KBImportError, match="CUSTOMER_SERVICE_KB_IMPORT_MAX_ROWS"):
        kb_import_file(data=b"question,answer,intent\na,b,c\nd,e,f\ng,h,i\n", name="faq.csv", format="csv")
    with pytest.raises(DataError, match="FINANCE_MAX_LABELLED_ROWS"):
        labelled_set_upload(name="s", file_name="s.csv", content=b"text,label\na,positive\nb,negative\nc,neutral\n")
    assert not KBEntry.objects.exists() and not LabelledSet.objects.exists()
