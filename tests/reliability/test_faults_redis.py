"""Fault: Redis, the broker, stops and comes back.

A Redis server of this test's own (a free port, no persistence; the shared one on 6379 is never
touched) carries the tasks of a real worker. While it is down the web keeps answering chat from
the model it has loaded, /healthz says the broker is down, and a job started then is marked
failed with a clear reason instead of waiting for ever. Once Redis is back on the same port, the
worker reconnects by itself and runs a new job to the end.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from apps.core.models import Job
from apps.core.services.jobs import job_start
from config.celery import app
from tests.apps.customer_service.conftest import (  # noqa: F401 - fixtures used by name
    api,
    fresh_assistant,
    intent_model,
    kb,
    post_chat,
    site,
    tiny_backbone,
)
from tests.conftest import run_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class RedisServer:
    """redis-server on a port of its own, stopped and started again on the same port."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        wait_for(lambda: self._answers(client), timeout=10, what=f"redis-server on port {self.port}")

    @staticmethod
    def _answers(client) -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _use_broker(url: str, transport_options: dict) -> None:
    """Point this process's Celery app at `url`, dropping connections pooled for the old one."""
    app.conf.broker_url = url
    app.conf.broker_transport_options = transport_options
    from kombu import pools

    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    # kombu keeps producer pools per connection in a global registry: going back to the old URL
    # would find the pool closed above ("Acquire on closed pool") in every later test.
    pools.reset()


@pytest.fixture
def own_redis(tmp_path, settings):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    previous = (app.conf.broker_url, app.conf.broker_transport_options)
    settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS = server.url, {}
    _use_broker(server.url, {})
    try:
        yield server
    finally:
        server.stop()
        _use_broker(*previous)


@pytest.fixture(autouse=True)
def _no_rate_limits():
    from django.core.cache import cache

    cache.clear()


def _finished(job: Job, timeout: float) -> Job:
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=timeout, what=f"job {job.pk}")
    job.refresh_from_db()
    return job


def test_redis_stopping_keeps_chat_answering_fails_new_jobs_clearly_and_the_worker_reconnects(
        own_redis, api, site, intent_model, admin_client, tiny_encoder_path):
    params = {"rounds": 1, "backbone": str(tiny_encoder_path)}
    with run_worker(broker_url=own_redis.url, queues="inference") as worker:
        first = _finished(job_start(task="core.encoder_check", params=params), timeout=60)
        assert first.state == Job.State.SUCCEEDED, worker.log()[-2000:]
        assert post_chat(api, site, "where is my order").status_code == 200

        own_redis.stop()
        # The web answers from the model it has loaded: no broker on the chat path.
        for text in ("I forgot my password", "has my package shipped", "talk to a human"):
            reply = post_chat(api, site, text)
            assert reply.status_code == 200 and reply.json()["reply"]["text"]
        health = api.get("/healthz")
        assert health.status_code == 503 and health.json()["checks"]["broker"]["ok"] is False

        # A job started now (the UI's button) is failed at once, saying why; the page shows it.
        started = time.monotonic()
        response = admin_client.post("/jobs/encoder-check/")
        assert response.status_code == 302 and time.monotonic() - started < 20
        lost = Job.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])
        assert lost.state == Job.State.FAILED
        assert lost.error.startswith("The task queue (broker) could not be reached, so the job was not queued")
        assert "Start it again once the queue is back" in lost.error
        page = admin_client.get(response["Location"]).content.decode()
        assert "The task queue (broker) could not be reached" in page

        own_redis.start()  # same port, empty: nothing queued survived, nothing was silently queued
        assert api.get("/healthz").status_code == 200
        after = _finished(job_start(task="core.encoder_check", params=params), timeout=90)
        assert after.state == Job.State.SUCCEEDED, worker.log()[-3000:]
        assert worker.process.poll() is None  # the same worker process, reconnected
        assert "Cannot connect to redis" in worker.log() or "Connection to broker lost" in worker.log()
    assert Job.objects.get(pk=lost.pk).state == Job.State.FAILED  # never run behind anyone's back
