"""The job state machine, run through job_run with real work functions (no worker needed)."""
import time

import pytest
from django.utils import timezone

from apps.core.models import Job
from apps.core.services.jobs import (
    JobOutcome,
    job_cancel,
    job_claim,
    job_create,
    job_run,
    job_start,
    jobs_fail_stale,
)
from ml_core.progress import Cancelled

pytestmark = pytest.mark.django_db


def _steps(job, progress):
    for step in range(1, 6):
        progress(step * 20, f"step {step}/5")
    return JobOutcome(metrics={"steps": 5}, result={"answer": 42}, message="All steps done")


def test_job_runs_to_success_with_metrics_and_progress():
    job = job_create(kind="test.steps", params={"n": 5})
    done = job_run(job_id=job.pk, work=_steps, worker="w1")
    assert done.state == Job.State.SUCCEEDED
    assert done.progress == 100 and done.message == "All steps done"
    assert done.metrics == {"steps": 5} and done.result == {"answer": 42}
    assert done.attempts == 1 and done.worker == "w1"
    assert done.started_at <= done.finished_at


def test_second_delivery_does_nothing():
    job = job_create(kind="test.steps")
    calls = []

    def work(job, progress):
        calls.append(job.pk)
        return JobOutcome()

    assert job_run(job_id=job.pk, work=work) is not None
    assert job_run(job_id=job.pk, work=work) is None
    job.refresh_from_db()
    assert calls == [job.pk] and job.attempts == 1


def test_claim_is_exclusive():
    job = job_create(kind="test.steps")
    assert job_claim(job_id=job.pk) is True
    assert job_claim(job_id=job.pk) is False


def test_failure_records_the_error_and_the_log():
    def work(job, progress):
        progress(30, "reading data")
        raise ValueError("row 7: empty text")

    job = job_create(kind="test.fail")
    done = job_run(job_id=job.pk, work=work)
    assert done.state == Job.State.FAILED
    assert done.error == "ValueError: row 7: empty text"
    assert done.message == "ValueError: row 7: empty text"
    assert "Traceback" in done.log_tail and "row 7" in done.log_tail


def test_logging_from_ml_code_lands_in_the_log_tail():
    import logging

    def work(job, progress):
        logging.getLogger("ml_core.training").info("epoch 1 loss 0.42")
        return JobOutcome()

    done = job_run(job_id=job_create(kind="test.log").pk, work=work)
    assert "epoch 1 loss 0.42" in done.log_tail


def test_cancel_of_a_queued_job_is_immediate_and_it_never_runs():
    job = job_create(kind="test.steps")
    job = job_cancel(job=job)
    assert job.state == Job.State.CANCELLED and job.finished_at
    assert job_run(job_id=job.pk, work=_steps) is None


def test_cancel_of_a_running_job_stops_it_at_the_next_progress_report():
    job = job_create(kind="test.cancel")
    reached = []

    def work(job_row, progress):
        progress(10, "working")
        job_cancel(job=job_row)  # an operator clicks cancel while the work runs
        progress.min_interval_s = 0
        for step in range(20, 101, 10):
            progress(step, "working")
            reached.append(step)
        return JobOutcome()

    done = job_run(job_id=job.pk, work=work)
    assert done.state == Job.State.CANCELLED
    assert reached == []


@pytest.mark.django_db(transaction=True)  # flush() waits while the job's connection is in a transaction
def test_a_cancel_read_by_the_heartbeat_s_write_stops_the_work_inside_the_throttle_interval():
    """The heartbeat thread may write a kept report just before the work's own calls: those then
    stay inside the throttle interval and write nothing, so the cancel must reach them through the
    heartbeat's write (a worker test timed out waiting for this on a loaded CI machine)."""
    job = job_create(kind="test.cancel")
    reached = []

    def work(job_row, progress):
        progress.min_interval_s = 0.5
        progress(10, "working")  # written
        job_cancel(job=job_row)
        progress(20, "working")  # inside the interval: kept for the heartbeat
        time.sleep(0.55)
        progress.flush()  # what the heartbeat thread does once the interval has passed (if it has not)
        for step in range(30, 101, 10):  # all inside the interval the flush started
            progress(step, "working")
            reached.append(step)
        return JobOutcome()

    done = job_run(job_id=job.pk, work=work)
    assert done.state == Job.State.CANCELLED, done.message
    assert reached == []


def test_progress_never_moves_backwards_and_is_throttled():
    writes = []

    def work(job, progress):
        progress.min_interval_s = 0
        progress(40)
        progress(20)
        writes.append(Job.objects.get(pk=job.pk).progress)
        return JobOutcome()

    job_run(job_id=job_create(kind="t").pk, work=work)
    assert writes == [40]


def test_cancelled_exception_raised_by_work_marks_cancelled():
    def work(job, progress):
        raise Cancelled("stop")

    assert job_run(job_id=job_create(kind="t").pk, work=work).state == Job.State.CANCELLED


def test_stale_running_jobs_are_failed():
    stale = job_create(kind="t")
    fresh = job_create(kind="t")
    for job in (stale, fresh):
        job_claim(job_id=job.pk)
    Job.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timezone.timedelta(hours=1))
    assert jobs_fail_stale(older_than_s=600) == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.state == Job.State.FAILED and "stopped reporting" in stale.error
    assert fresh.state == Job.State.RUNNING


def test_transient_errors_put_the_job_back_for_a_retry():
    from django.db import OperationalError

    def work(job, progress):
        raise OperationalError("server closed the connection unexpectedly")

    job = job_create(kind="t")
    with pytest.raises(OperationalError):
        job_run(job_id=job.pk, work=work, retry_on=(OperationalError,))
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED and "Retrying" in job.message
    # The retried delivery claims it again.
    assert job_run(job_id=job.pk, work=_steps).state == Job.State.SUCCEEDED
    job.refresh_from_db()
    assert job.attempts == 2


def test_jobs_are_queued_by_task_name_only():
    """job_start takes the task's name: a task object (which a service would have to import) is refused."""
    from apps.core.tasks import encoder_check_job

    with pytest.raises(TypeError, match="task's name"):
        job_start(task=encoder_check_job)
    assert not Job.objects.exists()
