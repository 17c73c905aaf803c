"""A damaged file of the active version: "why this score" answers 503 with the reason, /healthz
names the scenario as corrupted, and both recover by themselves once the file is repaired.

The finance sentiment scenario serves the tiny head model (head.safetensors on the tiny encoder).
"""
import os
import threading
import time
from pathlib import Path

import pytest
from django.core.cache import cache

from apps.core.services.registry import artifact_dir
from apps.finance_sentiment.models import Document
from apps.finance_sentiment.services.ingestion import documents_ingest
from apps.finance_sentiment.serving import SENTIMENT_SCENARIO, reset_caches, sentiment_cache
from ml_core import artifacts
from ml_core.artifacts import hash_counters
from ml_core.training.model import HEAD_FILE
from tests.apps.finance_sentiment.conftest import (  # noqa: F401 - fixtures used by name
    at,
    run_job,
    sentence,
    sentiment_model,
    tiny_backbone,
    tiny_sentiment_folder,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()  # explanations and rate limits start empty


def _scored_document() -> Document:
    result = documents_ingest(items=[{"text": sentence("negative", 1), "title": "Item",
                                      "published_at": at(0, 9).isoformat(), "source": "Wire"}], origin="api")
    run_job(result.batch.job)
    return Document.objects.get()


def _health(client) -> dict:
    response = client.get("/healthz")
    assert response.status_code == 200  # the web still answers: degraded, not down
    return response.json()


def _age(folder) -> None:
    """Date the files back past the window in which a file may still be changing (a fresh
    file's hash is not remembered yet)."""
    past = time.time_ns() - 60 * 10**9
    for path in folder.rglob("*"):  # the tokenizer's files lie in a subfolder
        if path.is_file():
            os.utime(path, ns=(past, past))


def test_a_corrupted_head_answers_503_and_health_recovers_once_repaired(client, operator_client, sentiment_model):
    document = _scored_document()
    folder = artifact_dir(sentiment_model)
    head = folder / HEAD_FILE
    sound = head.read_bytes()
    assert _health(client)["checks"]["models"]["scenarios"][SENTIMENT_SCENARIO]["files"] == "ok"

    head.write_bytes(sound[:-16] + b"\0" * 16)  # damaged on disk after activation
    why = operator_client.get(f"/finance/documents/{document.pk}/explanation/")
    body = why.content.decode()
    assert why.status_code == 503
    assert (f"{SENTIMENT_SCENARIO} v1 cannot be used: {HEAD_FILE} does not match its manifest (corrupted or "
            "altered). Restore its files from a backup or activate another version.") in body
    assert str(folder) not in body and "Traceback" not in body
    typed = operator_client.post(f"/models/{sentiment_model.pk}/explain/", {"text": "profits collapsed"})
    assert typed.status_code == 503 and f"{HEAD_FILE} does not match its manifest" in typed.content.decode()

    health = _health(client)
    models = health["checks"]["models"]
    assert health["status"] == "degraded" and models["ok"] is False
    assert models["problems"] == [SENTIMENT_SCENARIO]
    assert models["scenarios"][SENTIMENT_SCENARIO]["files"] == "corrupted"
    assert str(folder) not in str(health)
    # The model already in memory goes on scoring.
    assert sentiment_cache.get().version == 1

    head.write_bytes(sound)  # repaired: no restart, nothing to reset
    health = _health(client)
    assert health["status"] == "ok" and health["checks"]["models"]["scenarios"][SENTIMENT_SCENARIO]["files"] == "ok"
    why = operator_client.get(f"/finance/documents/{document.pk}/explanation/")
    assert why.status_code == 200 and f"Why <strong>{document.sentiment}</strong>" in why.content.decode()


def test_a_process_that_could_not_load_damaged_files_loads_them_once_repaired(client, sentiment_model):
    reset_caches()  # a process starting while the files are damaged
    head = artifact_dir(sentiment_model) / HEAD_FILE
    sound = head.read_bytes()
    head.write_bytes(b"\0" * len(sound))
    assert sentiment_cache.get() is None
    assert sentiment_cache.last_error == (f"{SENTIMENT_SCENARIO} v1 could not be loaded: {HEAD_FILE} does not "
                                          "match its manifest (corrupted or altered)")
    entry = _health(client)["checks"]["models"]["scenarios"][SENTIMENT_SCENARIO]
    assert entry == {"version": 1, "files": "corrupted", "served_version": None, "load_failed": True}

    head.write_bytes(sound)
    assert sentiment_cache.last_error == ""
    assert _health(client)["status"] == "ok"
    sentiment_cache.invalidate()
    assert sentiment_cache.get().version == 1


def test_health_does_not_hash_unchanged_files_again(client, sentiment_model, monkeypatch):
    folder = artifact_dir(sentiment_model)
    # Count the hashes /healthz makes of this version's files only: the counters are per process,
    # and other threads of a long test run (serving caches) may hash files meanwhile.
    hashed: list = []
    real_sha256 = artifacts._file_sha256
    this_thread = threading.current_thread()

    def counting_sha256(path):
        if folder in Path(path).parents and threading.current_thread() is this_thread:
            hashed.append(Path(path).name)
        return real_sha256(path)

    monkeypatch.setattr(artifacts, "_file_sha256", counting_sha256)
    _age(folder)
    _health(client)  # hashes what this process has not hashed under the files' present stamps
    computed, reused = len(hashed), hash_counters.reused
    for _ in range(3):
        assert _health(client)["checks"]["models"]["scenarios"][SENTIMENT_SCENARIO]["files"] == "ok"
    assert len(hashed) == computed
    assert hash_counters.reused > reused

    head = folder / HEAD_FILE
    head.write_bytes(head.read_bytes())  # rewritten (same bytes): read again, still sound
    assert _health(client)["checks"]["models"]["scenarios"][SENTIMENT_SCENARIO]["files"] == "ok"
    assert hashed[computed:] == [HEAD_FILE]
