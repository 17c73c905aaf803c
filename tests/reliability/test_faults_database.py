"""Fault: the database is briefly unreachable.

The test's own connection goes through a TCP proxy in front of PostgreSQL that the test can cut:
every open connection dropped, new ones closed at once, as when the server restarts or the
network fails; or dropped at the moment a given statement is sent, in the middle of a request's
transaction. Requests during the outage get a clear 503 with Retry-After (JSON under /api/, a
short HTML page elsewhere, never a stack trace) and leave nothing half-stored; once the
database is back, the same request succeeds.

SQLite has no connection to cut; there the outage is another process holding the write lock
past the busy timeout ("database is locked"), with the same answers expected.
"""
from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from django.db import connection

from apps.core.models import Job
from apps.customer_service.models import Conversation, IdempotencyRecord, Message
from tests.apps.customer_service.conftest import (  # noqa: F401 - fixtures used by name
    api,
    fresh_assistant,
    intent_model,
    kb,
    post_chat,
    site,
    tiny_backbone,
)

pytestmark = pytest.mark.django_db(transaction=True)


class CuttableProxy:
    """A TCP proxy to the database that can drop every connection on demand."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = False
        # Drop everything when the client sends a packet holding all of these.
        self.cut_on: tuple[bytes, ...] | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()  # the server is gone: the connection ends before any reply
                continue
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets |= {client, server}
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                cut_on = self.cut_on
                if from_client and cut_on and all(part in data for part in cut_on):
                    self.cut()  # the statement never reaches the server
                    return
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        with self._lock:
            self._sockets.discard(sock)

    def cut(self) -> None:
        self.down, self.cut_on = True, None
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            self._close(sock)

    def restore(self) -> None:
        self.down, self.cut_on = False, None

    def stop(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def db_proxy(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("cutting the database's TCP connection needs PostgreSQL (CI runs it); on SQLite "
                    "test_a_locked_sqlite_database_answers_503_and_stores_nothing covers the outage")
    settings_dict = connection.settings_dict
    original = settings_dict["HOST"], settings_dict["PORT"]
    proxy = CuttableProxy((original[0] or "127.0.0.1", int(original[1] or 5432)))
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(proxy.port)
    try:
        yield proxy
    finally:
        proxy.restore()
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = original
        proxy.stop()


@pytest.fixture(autouse=True)
def _no_rate_limits():
    from django.core.cache import cache

    cache.clear()


def _stored() -> tuple[int, int, int]:
    return Conversation.objects.count(), Message.objects.count(), IdempotencyRecord.objects.count()


def _assert_clear_503(response, *, api: bool) -> None:
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    body = response.content.decode()
    assert "Traceback" not in body and "psycopg" not in body and "5432" not in body
    if api:
        assert response.json() == {"detail": "The database is unavailable; nothing was saved. Try again shortly."}
    else:
        assert response["Content-Type"].startswith("text/html") and "Temporarily unavailable" in body


def test_a_database_outage_answers_503_and_stores_nothing_half_way(db_proxy, api, site, intent_model,
                                                                    admin_client, caplog, settings):
    assert post_chat(api, site, "where is my order").status_code == 200
    assert admin_client.get("/jobs/").status_code == 200
    before = _stored()
    assert before == (1, 2, 0)

    # The database goes away between requests.
    db_proxy.cut()
    with caplog.at_level(logging.ERROR, logger="apps.core.middleware"):
        _assert_clear_503(post_chat(api, site, "I forgot my password"), api=True)
        _assert_clear_503(admin_client.get("/jobs/"), api=False)
    assert any("database unavailable during POST /api/v1/chat/" in r.getMessage() for r in caplog.records)
    db_proxy.restore()
    assert _stored() == before
    assert admin_client.get("/jobs/").status_code == 200

    # The connection dies as the assistant's reply is written (Django binds parameters on the
    # client, so the statement carries the role): the new conversation and the customer's
    # message written before it in the same transaction must not survive alone.
    settings.CUSTOMER_SERVICE_IDEMPOTENCY_PENDING_S = 1
    db_proxy.cut_on = (b'INSERT INTO "customer_service_message"', b"'assistant'")
    key = {"HTTP_IDEMPOTENCY_KEY": "retry-me-1"}
    _assert_clear_503(post_chat(api, site, "has my package shipped", **key), api=True)
    assert db_proxy.down
    db_proxy.restore()
    assert (Conversation.objects.count(), Message.objects.count()) == before[:2]
    # The key's claim was taken before the chat's transaction and could not be released with
    # the database gone: the widget's retry is told to wait, then the claim is taken over.
    (claim,) = IdempotencyRecord.objects.all()
    assert claim.status_code is None
    busy = post_chat(api, site, "has my package shipped", **key)
    assert busy.status_code == 409 and "retry shortly" in busy.json()["detail"]
    time.sleep(1.1)
    again = post_chat(api, site, "has my package shipped", **key)
    assert again.status_code == 200, again.content
    assert _stored() == (2, 4, 1)
    conversation = Conversation.objects.get(pk=again.json()["conversation_id"])
    assert list(conversation.messages.order_by("id").values_list("role", flat=True)) == ["customer", "assistant"]
    replayed = post_chat(api, site, "has my package shipped", **key)
    assert replayed["Idempotent-Replayed"] == "true" and replayed.json() == again.json()
    assert _stored() == (2, 4, 1)


@pytest.fixture
def sqlite_locked(transactional_db):
    """SQLite's form of the outage: another process holds the write lock past the busy timeout."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only; PostgreSQL is cut through the proxy above")
    import sqlite3

    options = connection.settings_dict["OPTIONS"]
    original_timeout = options.get("timeout")
    options["timeout"] = 0.5  # seconds a write waits for the lock, instead of 30
    connection.close()
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)

    class Lock:
        @staticmethod
        def take():
            holder.execute("BEGIN EXCLUSIVE")

        @staticmethod
        def release():
            holder.execute("ROLLBACK")

    try:
        yield Lock
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
        options["timeout"] = original_timeout
        connection.close()


def test_a_locked_sqlite_database_answers_503_and_stores_nothing(sqlite_locked, api, site, intent_model,
                                                                 admin_client):
    assert post_chat(api, site, "where is my order").status_code == 200
    before = _stored()
    jobs_before = Job.objects.count()

    sqlite_locked.take()
    _assert_clear_503(post_chat(api, site, "I forgot my password", HTTP_IDEMPOTENCY_KEY="k-1"), api=True)
    _assert_clear_503(admin_client.post("/jobs/encoder-check/"), api=False)
    sqlite_locked.release()

    assert _stored() == before and Job.objects.count() == jobs_before
    again = post_chat(api, site, "I forgot my password", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 200, again.content
    assert _stored() == (before[0] + 1, before[1] + 2, before[2] + 1)
