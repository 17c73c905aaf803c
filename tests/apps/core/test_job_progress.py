"""The job page never shows a step's message after the step has moved on (issue 18: a chatbot
retrain sat at "93 % writing the model" for two minutes while it checked its explanations).

The throttle keeps a report that comes too soon after the last write, and the job's heartbeat
thread writes it once the interval has passed: the latest message always lands.
"""
import time

import pytest

from apps.core.models import Job
from apps.core.services.jobs import JobOutcome, job_create, job_run

# The heartbeat thread writes through its own connection: the job row must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def _row(job_id) -> tuple[float, str]:
    row = Job.objects.get(pk=job_id)
    return row.progress, row.message


def _wait_for(job_id, expected, timeout_s: float = 3.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _row(job_id) != expected:
        time.sleep(0.05)
    return _row(job_id)


def test_a_report_the_throttle_held_back_lands_while_the_next_step_runs_silently():
    seen = {}

    def work(job, progress):
        progress(90, "fitting the head")
        progress(93, "writing the model")  # within the interval: held back, not dropped
        progress(96.5, "checking that the explanations are faithful")  # ditto; this one is the latest
        seen["at once"] = _row(job.pk)
        # A long step that reports nothing (as the faithfulness check did) while the page polls.
        seen["later"] = _wait_for(job.pk, (96.5, "checking that the explanations are faithful"))
        return JobOutcome(message="Done")

    done = job_run(job_id=job_create(kind="test.silent_step").pk, work=work)
    assert done.state == Job.State.SUCCEEDED and done.message == "Done"
    assert seen["at once"] == (90, "fitting the head")  # the throttle did hold the two back
    assert seen["later"] == (96.5, "checking that the explanations are faithful")


def test_a_percent_without_a_message_keeps_the_last_message():
    seen = {}

    def work(job, progress):
        progress(10, "embedding the training texts")
        progress(20, "explaining texts 1-8 of 50")
        progress(30)
        seen["later"] = _wait_for(job.pk, (30, "explaining texts 1-8 of 50"))
        return JobOutcome()

    job_run(job_id=job_create(kind="test.silent_step").pk, work=work)
    assert seen["later"] == (30, "explaining texts 1-8 of 50")
