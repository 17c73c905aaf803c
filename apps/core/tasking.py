"""Declare Celery tasks that run a Job: `@job_task("app.train_something", queue="training")`.

The decorated function is the job's work, `work(job, progress) -> JobOutcome`: one line that calls
the service's `<thing>_run(job=job, progress=progress)`; the task Celery sees takes only the job id.
Services queue it by name (`job_start(task="app.train_something")`), never by importing the task.
Training tasks get long time limits and no retries (a half-done training is not resumed behind
the operator's back); inference tasks retry transient errors with exponential backoff.
"""
from __future__ import annotations

from collections.abc import Callable

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from .models import Job
from .queues import routed_queue
from .services.jobs import JobWork, job_fail, job_run

__all__ = ["TRANSIENT_ERRORS", "JobTask", "job_task", "routed_queue"]

# Errors worth another try: the database or the broker went away for a moment.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, ConnectionError, TimeoutError,
)


class JobTask(Task):
    """Records a failure on the job row when Celery itself gives up (retries exhausted...)."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        if args:
            job_fail(job_id=args[0], error=f"{type(exc).__name__}: {exc}",
                     from_states=(Job.State.QUEUED, Job.State.RUNNING))


def job_task(name: str, *, queue: str) -> Callable[[JobWork], Task]:
    if queue not in settings.CELERY_TASK_QUEUES_NAMES:
        raise ValueError(f"unknown queue {queue!r}")
    routed = routed_queue(name)
    if routed != queue:
        # Routing is by name (CELERY_TASK_ROUTES); the name must say what the code expects.
        raise ValueError(f"task {name!r} is routed to {routed!r}, not {queue!r}: rename it")

    def decorator(work: JobWork) -> Task:
        options: dict = {"name": name, "bind": True, "base": JobTask}
        if queue == "training":
            options.update(
                time_limit=settings.CELERY_TRAINING_TIME_LIMIT_S,
                soft_time_limit=settings.CELERY_TRAINING_SOFT_TIME_LIMIT_S,
                acks_late=False,
            )
            retry_on: tuple = ()
        else:
            options.update(
                time_limit=settings.CELERY_INFERENCE_TIME_LIMIT_S,
                autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, retry_backoff_max=300,
                retry_jitter=True, max_retries=settings.CELERY_INFERENCE_MAX_RETRIES,
            )
            retry_on = TRANSIENT_ERRORS

        def run(self, job_id: str):
            job_run(job_id=job_id, work=work, worker=self.request.hostname or "", retry_on=retry_on)

        run.__name__ = work.__name__
        run.__doc__ = work.__doc__
        task = shared_task(**options)(run)
        task.work = work
        return task

    return decorator
