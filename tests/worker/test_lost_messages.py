"""The job row is the truth, the broker message a hint: real workers on the embedded filesystem
broker survive torn message files, and a job whose message was lost is sent again and runs once."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.conf import settings

from apps.core.models import Job
from apps.core.services.jobs import job_start
from apps.core.tasks import encoder_check_job
from config.celery import app
from tests.conftest import run_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUEUE_DIR = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "."))


def _message_files(queue: str = "inference") -> list[Path]:
    return sorted(p for p in QUEUE_DIR.iterdir() if p.name.endswith(f".{queue}.msg"))


def _message_of(job: Job) -> Path:
    return next(p for p in _message_files() if str(job.pk) in p.read_text())


def _finished(job: Job, timeout: float = 90) -> Job:
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=timeout, what=f"job {job.pk} to finish")
    job.refresh_from_db()
    return job


@pytest.fixture
def tiny_job_params(tiny_encoder_path) -> dict:
    return {"rounds": 1, "backbone": str(tiny_encoder_path)}


def test_a_worker_survives_a_torn_message_file_and_runs_the_next_job(tiny_job_params):
    # A message file cut off half-way (a producer killed mid-write, a full disk), older than
    # the grace period, sorted before every real message.
    good = job_start(task="core.encoder_check", params=tiny_job_params)
    payload = _message_of(good).read_bytes()
    torn = QUEUE_DIR / "0000001_torn.inference.msg"
    torn.write_bytes(payload[: len(payload) // 2])
    os.utime(torn, (time.time() - 3600, time.time() - 3600))
    _message_of(good).unlink()  # only the torn copy is left...
    with run_worker(queues="inference") as worker:
        # ...and a good message for another job comes after it.
        job = _finished(job_start(task="core.encoder_check", params=tiny_job_params))
        assert worker.process.poll() is None, worker.log()[-3000:]
    assert job.state == Job.State.SUCCEEDED, worker.log()[-3000:]
    quarantined = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["quarantine_folder"]) / torn.name
    assert not torn.exists() and quarantined.read_bytes() == payload[: len(payload) // 2]
    quarantined.unlink()


def test_a_job_whose_message_was_lost_is_sent_again_and_runs_exactly_once(tiny_job_params):
    job = job_start(task="core.encoder_check", params=tiny_job_params)
    _message_of(job).unlink()  # the broker lost it
    # The beat's sweep, run by the worker as beat would send it, with a short resend limit.
    with run_worker(queues="inference", extra_env={"JOB_RESEND_AFTER_S": "1"}) as worker:
        time.sleep(1.5)
        assert Job.objects.get(pk=job.pk).state == Job.State.QUEUED  # nothing to deliver
        app.send_task("core.resend_lost_jobs")
        job = _finished(job)
        # The lost message turns up after all, and the sweep runs again: nothing runs twice.
        app.send_task("core.resend_lost_jobs")
        encoder_check_job.apply_async(args=[str(job.pk)])
        wait_for(lambda: worker.log().count("core.resend_lost_jobs") >= 4
                 and "not claimed (state succeeded)" in worker.log(), timeout=30, what="the duplicate")
    assert job.state == Job.State.SUCCEEDED, worker.log()[-3000:]
    assert job.attempts == 1 and job.sends == 2 and job.metrics["texts"] == 36
    assert worker.log().count(f"job {job.pk} (core.encoder_check) started") == 1
