"""JSON nested deeper than JSON_MAX_DEPTH, sent to every edge that parses JSON from users: the API
bodies (anonymous and authenticated) and the JSON Lines uploads and imports.

Python's decoder recurses once per level: `[` x 100,000 raised RecursionError, a 500 for anyone.
Each edge must answer 400 (or name the line) with "JSON nested deeper than N levels".
"""
from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from apps.core.models import ApiKey
from apps.core.services.api_keys import api_key_create
from apps.customer_service.models import KBEntry, Site
from apps.customer_service.services.kb_io import KBImportError, kb_import_read
from apps.finance_sentiment.models import Document, LabelledSet
from apps.finance_sentiment.services.ingestion import UnreadableRow
from apps.finance_sentiment.services.training import labelled_set_upload
from apps.finance_sentiment.services.uploads import upload_parse
from apps.recommendation.models import Item
from ml_core.data import DataError, JSONTooDeep, json_loads_bounded, load_labelled

ORIGIN = "https://shop.example"
HOSTILE = "[" * 100_000  # the reviewer's body: never closed, far past the decoder's recursion limit


def nested(depth: int) -> str:
    """A valid JSON value `depth` containers deep, objects and arrays alternating."""
    opened = "".join('{"k":' if level % 2 else "[" for level in range(depth))
    closed = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return opened + "1" + closed


# --- the bounded loader ------------------------------------------------------------------------------
def test_the_limit_counts_containers_not_brackets_inside_strings():
    assert json_loads_bounded(nested(64), max_depth=64) is not None
    with pytest.raises(JSONTooDeep, match="JSON nested deeper than 64 levels"):
        json_loads_bounded(nested(65), max_depth=64)
    assert json_loads_bounded(json.dumps(["[" * 5000, {"a": "{" * 5000}]), max_depth=2)[0] == "[" * 5000
    with pytest.raises(JSONTooDeep):
        json_loads_bounded(HOSTILE.encode())  # bytes, past the decoder's own recursion limit
    with pytest.raises(ValueError):  # malformed but shallow: the decoder's own message
        json_loads_bounded("[1, 2")


# --- API bodies ------------------------------------------------------------------------------------------
def _assert_refused_as_too_deep(response) -> None:
    assert response.status_code == 400, response.content[:300]
    assert "JSON nested deeper than 64 levels" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [HOSTILE, nested(65)], ids=["unclosed-100000", "valid-65"])
def test_the_public_chat_api_refuses_deep_json_from_anyone(body):
    site = Site.objects.create(name="Shop", allowed_origins=ORIGIN)
    response = APIClient().post("/api/v1/chat/", data=body, content_type="application/json", HTTP_ORIGIN=ORIGIN)
    _assert_refused_as_too_deep(response)
    inner = json.dumps({"site_key": site.public_key, "text": "hi", "context": "x"})[:-1] + f', "deep": {nested(70)}}}'
    _assert_refused_as_too_deep(APIClient().post("/api/v1/chat/", data=inner, content_type="application/json",
                                                 HTTP_ORIGIN=ORIGIN))


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/finance/documents/", "/api/v1/recommendation/items/",
                                  "/api/v1/recommendation/events/"])
def test_batch_apis_refuse_deep_json_and_anonymous_callers_get_no_server_error(path, operator_client):
    anonymous = APIClient().post(path, data=HOSTILE, content_type="application/json")
    assert anonymous.status_code in (401, 403), anonymous.content[:300]
    _assert_refused_as_too_deep(operator_client.post(path, data=HOSTILE, content_type="application/json"))
    _assert_refused_as_too_deep(operator_client.post(path, data=nested(65), content_type="application/json"))
    assert not Document.objects.exists() and not Item.objects.exists()


@pytest.mark.django_db
def test_the_finance_api_key_path_refuses_deep_items_and_keeps_shallow_ones():
    _, key = api_key_create(name="deep", scopes=[ApiKey.Scope.FINANCE])
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    _assert_refused_as_too_deep(api.post("/api/v1/finance/documents/", data=HOSTILE, content_type="application/json"))
    shallow = {"documents": [{"text": "Profit rose.", "title": "ok", "extra": json.loads(nested(10))}]}
    response = api.post("/api/v1/finance/documents/", shallow, format="json")
    assert response.status_code == 202, response.content[:300]


# --- JSON Lines uploads and imports ------------------------------------------------------------------------
def _jsonl_with_deep_second_line(good: dict) -> bytes:
    return (json.dumps(good) + "\n" + HOSTILE + "\n").encode()


@pytest.mark.django_db
def test_kb_import_names_the_deep_line_and_stores_nothing(operator_client):
    data = _jsonl_with_deep_second_line({"question": "where is my card", "answer": "On its way.", "intent": "card"})
    with pytest.raises(KBImportError, match=r"faq.jsonl, line 2: JSON nested deeper than 64 levels"):
        kb_import_read(data=data, name="faq.jsonl", format="jsonl")
    page = operator_client.post("/customer-service/kb/import/", {
        "file": SimpleUploadedFile("faq.jsonl", data), "format": "jsonl"})
    assert page.status_code < 500 and "JSON nested deeper than 64 levels" in page.content.decode()
    assert not KBEntry.objects.exists()


@pytest.mark.django_db
def test_finance_upload_rejects_the_deep_line_and_keeps_the_others(operator_client):
    items, wheres = upload_parse(content=_jsonl_with_deep_second_line({"text": "Profit rose."}), name="n.jsonl")
    assert items[0] == {"text": "Profit rose."}
    assert items[1] == UnreadableRow("JSON nested deeper than 64 levels") and wheres == ["line 1", "line 2"]
    page = operator_client.post("/finance/upload/", {"file": SimpleUploadedFile(
        "n.jsonl", _jsonl_with_deep_second_line({"text": "Profit rose."}))})
    assert page.status_code < 500


@pytest.mark.django_db
def test_labelled_set_and_cli_data_refuse_deep_lines(tmp_path):
    content = _jsonl_with_deep_second_line({"text": "Profit rose.", "label": "positive"})
    with pytest.raises(DataError, match=r"set.jsonl, line 2: JSON nested deeper than 64 levels"):
        labelled_set_upload(name="deep", file_name="set.jsonl", content=content)
    assert not LabelledSet.objects.exists()
    path = tmp_path / "train.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"train.jsonl, line 2: JSON nested deeper than 64 levels"):
        load_labelled(path)
    with pytest.raises(DataError, match="label map is not valid JSON"):
        load_labelled(path, label_map="{" * 100_000)


@pytest.mark.django_db
def test_recommendation_import_command_names_the_deep_line(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(_jsonl_with_deep_second_line({"id": "i-1", "title": "A film"}))
    with pytest.raises(CommandError, match=r"items.jsonl line 2: not JSON \(JSON nested deeper than 64 levels\)"):
        call_command("import_recommendation_data", items=path)
    assert not Item.objects.exists()
