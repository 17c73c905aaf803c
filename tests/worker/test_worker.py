"""Real Celery worker processes on real brokers: Redis (127.0.0.1:6379) and the embedded
filesystem transport. The worker runs the project's own tasks on the test database."""
from __future__ import annotations

import os

import pytest
import redis
from django.conf import settings

from apps.core.models import Job
from apps.core.services.jobs import job_cancel, job_create, job_start
from apps.core.tasks import encoder_check_job
from config.celery import app
from tests.conftest import run_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The real server at 127.0.0.1:6379; a database of its own so parallel test runs do not meet.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _watch(job: Job, timeout: float = 120) -> tuple[list[str], list[float]]:
    """Poll the row as the jobs page does; return the states and progress values seen."""
    states, progress = [], []

    def finished() -> bool:
        job.refresh_from_db()
        if not states or states[-1] != job.state:
            states.append(job.state)
        if not progress or progress[-1] != job.progress:
            progress.append(job.progress)
        return job.is_finished

    wait_for(finished, timeout=timeout, interval=0.02, what=f"job {job.pk} to finish")
    return states, progress


def _send(job: Job, broker_url: str) -> None:
    with app.connection_for_write(broker_url) as connection:
        encoder_check_job.apply_async(args=[str(job.pk)], connection=connection)


@pytest.fixture
def redis_broker():
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # the real server this machine (and CI) runs
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def test_job_runs_through_a_worker_on_redis(redis_broker):
    job = job_create(kind=encoder_check_job.name, params={"rounds": 16})
    assert job.state == "queued"  # read before sending: a ready worker may start it before the first poll
    with run_worker(broker_url=redis_broker) as worker:
        _send(job, redis_broker)
        states, progress = _watch(job)
    assert "running" in states and states[-1] == "succeeded", worker.log()
    assert len([p for p in progress if 0 < p < 100]) >= 3, progress  # several progress updates
    assert progress == sorted(progress) and progress[-1] == 100
    assert job.metrics["dimension"] == 384 and job.metrics["texts"] == 16 * 36
    assert job.worker.startswith("test-")


def test_job_runs_through_a_worker_on_the_embedded_filesystem_broker(tiny_encoder_path):
    assert settings.CELERY_BROKER_URL == "filesystem://"
    with run_worker() as worker:
        # The same path as a click in the UI: job_start enqueues after commit.
        job = job_start(task="core.encoder_check", params={"rounds": 2, "backbone": str(tiny_encoder_path)})
        states, _ = _watch(job)
    assert states[0] == "queued" and states[-1] == "succeeded", worker.log()
    assert job.metrics["dimension"] == 32


def test_a_job_delivered_twice_runs_once(redis_broker, tiny_encoder_path):
    job = job_create(kind=encoder_check_job.name, params={"rounds": 2, "backbone": str(tiny_encoder_path)})
    with run_worker(broker_url=redis_broker, concurrency=2) as worker:
        _send(job, redis_broker)
        _send(job, redis_broker)
        _watch(job)
        wait_for(lambda: worker.log().count("not claimed") == 1, timeout=30, what="second delivery")
        # Both messages processed, one did the work. Celery logs "succeeded in" just after the task
        # returns: stopping the worker before that line (a busy machine) lost it, not the message.
        wait_for(lambda: worker.log().count("succeeded in") == 2, timeout=30, what="both tasks finished")
    job.refresh_from_db()
    assert job.state == "succeeded" and job.attempts == 1
    assert worker.log().count("succeeded in") == 2 and worker.log().count("not claimed") == 1


def test_a_failing_job_records_its_error(redis_broker):
    job = job_create(kind=encoder_check_job.name, params={"backbone": "/no/such/model/folder"})
    with run_worker(broker_url=redis_broker) as worker:
        _send(job, redis_broker)
        states, _ = _watch(job)
    assert states[-1] == "failed", worker.log()
    assert job.error == "BackboneError: backbone folder /no/such/model/folder does not exist"
    assert "Traceback" in job.log_tail


def test_a_running_job_is_cancelled_by_an_operator(redis_broker):
    job = job_create(kind=encoder_check_job.name, params={"rounds": 400})
    with run_worker(broker_url=redis_broker) as worker:
        _send(job, redis_broker)
        wait_for(lambda: Job.objects.get(pk=job.pk).progress > 10, timeout=60, what="the job to run")
        job_cancel(job=Job.objects.get(pk=job.pk))
        states, progress = _watch(job, timeout=30)
    assert states[-1] == "cancelled", worker.log()
    assert progress[-1] < 100
