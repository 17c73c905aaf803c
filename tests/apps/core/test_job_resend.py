"""The resend sweep (jobs_resend_lost): a queued job whose message was lost is sent again
through the real (filesystem) broker; a job never runs twice; too many sends fail it in words."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from apps.core.models import Job
from apps.core.services.jobs import (
    JobOutcome,
    job_cancel,
    job_claim,
    job_create,
    job_run,
    job_start,
    jobs_resend_lost,
)
from config.celery import app

pytestmark = pytest.mark.django_db

QUEUE_DIR = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "."))


@pytest.fixture
def messages_of():
    """The message files in the broker that name a job; removed afterwards (no worker must get them)."""
    job_ids: list[str] = []

    def files(job: Job) -> list[Path]:
        job_ids.append(str(job.pk))
        return [path for path in QUEUE_DIR.glob("*.msg") if str(job.pk) in path.read_text()]

    yield files
    for path in QUEUE_DIR.glob("*.msg"):
        if any(job_id in path.read_text() for job_id in job_ids):
            path.unlink(missing_ok=True)


@pytest.fixture
def lost_job(django_capture_on_commit_callbacks, messages_of) -> Job:
    """A job sent ten minutes ago whose message the broker lost."""
    with django_capture_on_commit_callbacks(execute=True):
        job = job_start(task="core.encoder_check", params={"rounds": 1})
    (message,) = messages_of(job)
    message.unlink()
    Job.objects.filter(pk=job.pk).update(sent_at=timezone.now() - timezone.timedelta(minutes=10))
    job.refresh_from_db()
    return job


def test_the_job_row_records_how_to_send_it_again(lost_job):
    assert lost_job.task_name == "core.encoder_check" and lost_job.task_args == [str(lost_job.pk)]
    assert lost_job.sends == 1


def test_a_queued_job_whose_message_was_lost_is_sent_again(lost_job, messages_of):
    assert jobs_resend_lost(older_than_s=300, max_resends=3) == 1
    assert len(messages_of(lost_job)) == 1
    lost_job.refresh_from_db()
    assert lost_job.sends == 2 and lost_job.state == Job.State.QUEUED
    assert (timezone.now() - lost_job.sent_at).total_seconds() < 10
    assert lost_job.message == "Waiting for a worker (sent again, 1 of 3)"
    assert jobs_resend_lost(older_than_s=300, max_resends=3) == 0  # its new message is recent


def test_recent_cancelled_and_never_sent_jobs_are_left_alone(lost_job, messages_of):
    Job.objects.filter(pk=lost_job.pk).update(sent_at=timezone.now())
    assert jobs_resend_lost(older_than_s=300) == 0
    Job.objects.filter(pk=lost_job.pk).update(sent_at=timezone.now() - timezone.timedelta(hours=1))
    job_cancel(job=lost_job)
    job_create(kind="core.encoder_check")  # created, never enqueued: nothing to send
    assert jobs_resend_lost(older_than_s=300) == 0
    assert messages_of(lost_job) == []


def test_a_job_waits_its_turn_while_another_job_of_its_queue_runs(lost_job, django_capture_on_commit_callbacks,
                                                                   messages_of):
    with django_capture_on_commit_callbacks(execute=True):
        busy = job_start(task="core.encoder_check", params={"rounds": 1})
    job_claim(job_id=busy.pk)
    assert jobs_resend_lost(older_than_s=300) == 0
    Job.objects.filter(pk=busy.pk).update(heartbeat_at=timezone.now() - timezone.timedelta(hours=2))
    assert jobs_resend_lost(older_than_s=300) == 1  # the running job's worker is gone
    assert len(messages_of(lost_job)) == 1


def test_after_its_last_resend_the_job_fails_and_says_why(lost_job, messages_of):
    Job.objects.filter(pk=lost_job.pk).update(sends=4)  # the first send and three re-sends
    assert jobs_resend_lost(older_than_s=300, max_resends=3) == 0
    lost_job.refresh_from_db()
    assert lost_job.state == Job.State.FAILED and lost_job.finished_at
    assert lost_job.error.startswith("No worker took this job: its message was sent 4 times, 300 s apart")
    assert "'inference' queue" in lost_job.error
    assert messages_of(lost_job) == []


def test_a_job_put_back_for_a_retry_is_not_sent_twice(lost_job):
    def work(job, progress):
        raise OperationalError("server closed the connection unexpectedly")

    with pytest.raises(OperationalError):
        job_run(job_id=lost_job.pk, work=work, retry_on=(OperationalError,))
    # Celery sends the retry after its backoff: the sweep counts from the retry.
    assert jobs_resend_lost(older_than_s=300) == 0
    assert job_run(job_id=lost_job.pk, work=lambda job, progress: JobOutcome()).attempts == 2


def test_the_sweep_runs_every_minute_in_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["core.resend_lost_jobs"]
    assert entry["schedule"] <= 60 and entry["task"] in app.tasks
