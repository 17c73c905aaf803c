"""Jobs: create, enqueue, claim, report progress, finish, cancel.

Every state change is one conditional UPDATE, so two workers, a worker and an operator, or a
redelivered message can never both win: the row, not the broker, says what happened.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from ml_core.progress import Cancelled

from ..models import AuditEvent, Job
from ..observability import job_context
from ..queues import routed_queue, task_send
from .audit import audit_record

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 200
LOG_TAIL_CHARS = 20_000
PROGRESS_MIN_INTERVAL_S = 0.3
HEARTBEAT_INTERVAL_S = 10.0


@dataclass
class JobOutcome:
    """What a job's work returns: figures to show and references to what it produced."""

    metrics: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    message: str = "Done"
    # Run once the job is recorded as succeeded (e.g. start the next job of a chain); not stored.
    follow_up: Callable[[], Any] | None = None


JobWork = Callable[[Job, "JobProgress"], JobOutcome | None]


def job_create(
    *, kind: str, title: str = "", params: dict | None = None, scenario: str = "", created_by=None
) -> Job:
    return Job.objects.create(
        kind=kind, title=title or kind, params=params or {}, scenario=scenario,
        created_by=created_by if (created_by and created_by.is_authenticated) else None,
        message="Waiting for a worker",
    )


def _check_task_name(task: str) -> str:
    """Jobs are queued by task name ("core.encoder_check"), never by task object: services do not
    import tasks modules (issue 19)."""
    if not isinstance(task, str):
        raise TypeError(f"give the task's name (e.g. \"core.encoder_check\"), not {type(task).__name__}")
    return task


def job_enqueue(*, job: Job, task: str) -> None:
    """Send the task (its name, e.g. "core.train_classifier") once the surrounding transaction has
    committed the job row.

    The row records the task and its arguments, so that jobs_resend_lost can send the message
    again if the broker loses it. When the broker cannot be reached the job is marked failed and
    says so, rather than waiting for a worker forever (or the request failing after the job was stored).
    """
    job_id = str(job.id)
    job.task_name, job.task_args, job.sent_at, job.sends = _check_task_name(task), [job_id], timezone.now(), 1
    job.save(update_fields=["task_name", "task_args", "sent_at", "sends"])

    def send() -> None:
        try:
            task_send(job.task_name, args=job.task_args)
        except Exception as exc:  # kombu's OperationalError, a refused connection...  # noqa: BLE001
            log.error("job %s could not be queued: %s: %s", job_id, type(exc).__name__, exc)
            job_fail(job_id=job_id, from_states=(Job.State.QUEUED,),
                     error=f"The task queue (broker) could not be reached, so the job was not queued: "
                           f"{type(exc).__name__}: {exc}. Start it again once the queue is back.")

    transaction.on_commit(send)


def job_start(*, task: str, kind: str | None = None, title: str = "", params: dict | None = None,
              scenario: str = "", created_by=None) -> Job:
    """Create a job for the task named `task` and enqueue it (after commit); the job's kind is the
    task name unless given. Training-queue work is audited.

    The one way to queue a job: a service's `<thing>_start(...)` checks its preconditions and calls
    this; the task (apps/<app>/tasks.py) is one line calling the service's `<thing>_run(job, progress)`.
    """
    task = _check_task_name(task)
    with transaction.atomic():
        job = job_create(kind=kind or task, title=title, params=params, scenario=scenario,
                         created_by=created_by)
        if routed_queue(task) == "training":
            audit_record(action=AuditEvent.Action.RETRAIN, scenario=scenario, actor=created_by,
                         target=f"job {job.pk}", details={"kind": job.kind, "params": job.params})
        job_enqueue(job=job, task=task)
    if not transaction.get_connection().in_atomic_block:
        job.refresh_from_db()  # sent (or failed to send) on commit: show what happened
    return job


def job_claim(*, job_id, worker: str = "") -> bool:
    """Move a queued job to running. False when it is not queued (a duplicate delivery)."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, state=Job.State.QUEUED, cancel_requested=False).update(
        state=Job.State.RUNNING, started_at=now, heartbeat_at=now, worker=worker[:200],
        message="Started", attempts=F("attempts") + 1,
    )
    return claimed == 1


def job_cancel_requested(job_id) -> bool:
    """Whether someone asked the job to stop."""
    return Job.objects.filter(pk=job_id, cancel_requested=True).exists()


def job_raise_if_cancelled(job_id: int) -> None:
    """Raise Cancelled when someone asked the job to stop (the check running work makes)."""
    if job_cancel_requested(job_id):
        raise Cancelled(f"job {job_id} was cancelled")


def job_cancel(*, job: Job, actor=None) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    now = timezone.now()
    audit_record(action=AuditEvent.Action.JOB_CANCEL, scenario=job.scenario, actor=actor,
                 target=f"job {job.pk}", details={"kind": job.kind, "title": job.title})
    if Job.objects.filter(pk=job.pk, state=Job.State.QUEUED).update(
        state=Job.State.CANCELLED, cancel_requested=True, finished_at=now, message="Cancelled before it started"
    ):
        pass
    else:
        Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            cancel_requested=True, message="Cancelling…"
        )
    job.refresh_from_db()
    return job


def _finish(job_id, *, state: str, **fields) -> bool:
    return bool(
        Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(
            state=state, finished_at=timezone.now(), **fields
        )
    )


def job_succeed(*, job_id, outcome: JobOutcome, log_tail: str = "") -> bool:
    return _finish(job_id, state=Job.State.SUCCEEDED, progress=100.0, message=outcome.message[:300],
                   metrics=outcome.metrics, result=outcome.result, log_tail=log_tail)


def job_fail(*, job_id, error: str, log_tail: str = "", from_states=(Job.State.RUNNING,)) -> bool:
    return bool(
        Job.objects.filter(pk=job_id, state__in=from_states).update(
            state=Job.State.FAILED, finished_at=timezone.now(), error=error,
            message=error.splitlines()[0][:300] if error else "Failed", log_tail=log_tail,
        )
    )


def job_requeue(*, job_id, reason: str) -> bool:
    """A transient error: put the job back so the retried delivery can claim it again."""
    return bool(
        Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(
            # Celery sends the retry (after a backoff): the resend sweep counts from now.
            state=Job.State.QUEUED, message=f"Retrying after: {reason}"[:300], sent_at=timezone.now(),
        )
    )


def jobs_fail_stale(*, older_than_s: int | None = None) -> int:
    """Fail running jobs whose worker stopped sending heartbeats (killed, out of memory...)."""
    older_than_s = older_than_s or settings.JOB_STALE_AFTER_S
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_s)
    return Job.objects.filter(state=Job.State.RUNNING, heartbeat_at__lt=cutoff).update(
        state=Job.State.FAILED, finished_at=timezone.now(),
        error=f"The worker stopped reporting for over {older_than_s} s (killed or lost); "
              "nothing it was writing was activated.",
        message="Worker lost",
    )


def jobs_resend_lost(*, older_than_s: int | None = None, max_resends: int | None = None) -> int:
    """Send again the queued jobs whose message never reached a worker; fail those sent too often.

    The row is the truth and the message a hint: a message may be lost (a torn file, a worker
    killed while holding it) and a duplicate does nothing (job_claim). A job waits its turn while
    another job of its queue runs, as its message is then most likely behind that one. Returns
    how many messages were sent.
    """
    older_than_s = settings.JOB_RESEND_AFTER_S if older_than_s is None else older_than_s
    max_resends = settings.JOB_RESEND_MAX if max_resends is None else max_resends
    now = timezone.now()
    overdue = list(
        Job.objects.filter(state=Job.State.QUEUED, cancel_requested=False,
                           sent_at__lt=now - timezone.timedelta(seconds=older_than_s))
        .exclude(task_name="").order_by("sent_at")
        .values_list("pk", "task_name", "task_args", "sent_at", "sends")
    )
    if not overdue:
        return 0
    busy_queues = {
        routed_queue(task_name or kind) for task_name, kind in Job.objects.filter(
            state=Job.State.RUNNING,
            heartbeat_at__gte=now - timezone.timedelta(seconds=settings.JOB_STALE_AFTER_S),
        ).values_list("task_name", "kind")
    }
    sent = 0
    for job_id, task_name, task_args, sent_at, sends in overdue:
        queue = routed_queue(task_name)
        if queue in busy_queues:
            continue
        unchanged = Job.objects.filter(pk=job_id, state=Job.State.QUEUED, sent_at=sent_at)
        if sends > max_resends:
            error = (f"No worker took this job: its message was sent {sends} times, {older_than_s} s apart, "
                     f"while nothing else ran on the '{queue}' queue. Check that a worker for that queue "
                     "is running and can reach the broker, then start the job again.")
            if unchanged.update(state=Job.State.FAILED, finished_at=now, error=error, message=error[:300]):
                log.error("job %s failed: %s", job_id, error)
            continue
        # The conditional update makes a second sweep running at the same moment send nothing.
        if not unchanged.update(sent_at=now, sends=F("sends") + 1,
                                message=f"Waiting for a worker (sent again, {sends} of {max_resends})"):
            continue
        try:
            task_send(task_name, args=task_args)
        except Exception as exc:  # the broker is down: the next sweep tries again  # noqa: BLE001
            log.error("job %s could not be sent again: %s: %s", job_id, type(exc).__name__, exc)
            continue
        log.warning("job %s was still queued %s s after its message was sent: sent again (%s of %s)",
                    job_id, older_than_s, sends, max_resends)
        sent += 1
    return sent


class JobProgress:
    """The progress callback ml_core calls: writes the row (throttled) and raises Cancelled.

    A report that comes sooner than `min_interval_s` after the last write is kept, not dropped:
    the job's heartbeat thread writes it (`flush`) once the interval has passed, so the bar and
    the message on screen are never older than a step's last report, however long that step
    runs without reporting again."""

    def __init__(self, job_id, min_interval_s: float = PROGRESS_MIN_INTERVAL_S) -> None:
        self.job_id = job_id
        self.min_interval_s = min_interval_s
        self.percent = 0.0
        self.message = ""  # the latest message reported
        self._last_write = 0.0
        self._written = (0.0, "")  # (percent, message) on the row
        self.cancel_requested = False  # as the last write read it
        self._writing = threading.Lock()
        self.logs = _LogTail()
        # The job's own connection: while it is inside a transaction, a write through another
        # connection could not see the uncommitted job row (or, on SQLite, would wait for it).
        self._job_connection = connections[DEFAULT_DB_ALIAS]

    def __call__(self, percent: float, message: str = "") -> None:
        self._raise_if_cancelled()  # as the last write read it, whichever thread made it
        # Never move the bar backwards: sub-steps may restart their own count.
        self.percent = max(self.percent, min(100.0, max(0.0, float(percent))))
        if message:
            self.message = message[:300]
        if time.monotonic() - self._last_write < self.min_interval_s and self.percent < 100.0:
            return  # kept for the trailing write
        # The heartbeat thread may be writing a kept report: then this one waits for the next flush.
        if not self._writing.acquire(blocking=False):
            return
        try:
            self._write()
        finally:
            self._writing.release()
        self._raise_if_cancelled()

    def _raise_if_cancelled(self) -> None:
        if self.cancel_requested:
            raise Cancelled(f"job {self.job_id} was cancelled")

    def _write(self) -> None:
        percent, message = self.percent, self.message
        self._last_write = time.monotonic()
        fields = {"progress": round(percent, 2), "heartbeat_at": timezone.now(), "log_tail": self.logs.text()}
        if message != self._written[1]:
            fields["message"] = message
        Job.objects.filter(pk=self.job_id, state=Job.State.RUNNING).update(**fields)
        self._written = (percent, message)
        # Every write reads the cancel flag: when the heartbeat thread's flush wins the write, the
        # work's own calls stay inside the throttle interval and would otherwise never look.
        self.cancel_requested = job_cancel_requested(self.job_id)

    @property
    def pending(self) -> bool:
        """Whether the row is behind the latest report."""
        return self._written != (self.percent, self.message)

    def flush(self) -> bool:
        """The trailing write of a report the throttle kept (from the heartbeat thread): True when
        it wrote. Waits while the job's own connection is in a transaction."""
        if not self.pending or self._job_connection.in_atomic_block \
                or time.monotonic() - self._last_write < self.min_interval_s:
            return False
        with self._writing:
            if not self.pending:
                return False
            self._write()
        return True

    def log(self, line: str) -> None:
        self.logs.append(line)


class _LogTail(logging.Handler):
    """Keeps the last lines logged during a job, for the job page."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        self._lines: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self._lock_lines = threading.Lock()
        self.thread_id = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread_id:
            return  # another job's thread in the same process
        try:
            self.append(self.format(record))
        except Exception:  # pragma: no cover - logging must never break the job  # noqa: BLE001
            self.handleError(record)

    def append(self, line: str) -> None:
        with self._lock_lines:
            self._lines.append(line)

    def text(self) -> str:
        with self._lock_lines:
            return "\n".join(self._lines)[-LOG_TAIL_CHARS:]


class _Heartbeat(threading.Thread):
    """Marks the job alive while its work runs, even through long steps without progress, and
    writes the progress reports the throttle kept (JobProgress.flush)."""

    def __init__(self, job_id, progress: JobProgress | None = None) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.job_id = job_id
        self.progress = progress
        self.stopped = threading.Event()

    def run(self) -> None:
        last_beat = time.monotonic()
        tick = min(HEARTBEAT_INTERVAL_S, self.progress.min_interval_s if self.progress else HEARTBEAT_INTERVAL_S)
        try:
            while not self.stopped.wait(tick):
                if self.progress is not None and self._flushed():
                    last_beat = time.monotonic()  # the flush wrote heartbeat_at too
                elif time.monotonic() - last_beat >= HEARTBEAT_INTERVAL_S:
                    Job.objects.filter(pk=self.job_id, state=Job.State.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                    last_beat = time.monotonic()
        except Exception:  # pragma: no cover - a lost heartbeat shows as a stale job
            log.exception("heartbeat of job %s stopped", self.job_id)
        finally:
            connection.close()

    def _flushed(self) -> bool:
        try:
            return self.progress.flush()
        except Exception:  # a missed trailing write is not worth stopping the heartbeat for
            log.warning("job %s: progress not written", self.job_id, exc_info=True)
            return False


_WATCHED_LOGGERS = ("ml_core", "apps")


def job_run(*, job_id, work: JobWork, worker: str = "",
            retry_on: tuple[type[BaseException], ...] = ()) -> Job | None:
    """Claim the job, run `work(job, progress)`, and record how it ended.

    A second delivery of the same job finds it not queued and does nothing. Exceptions listed
    in `retry_on` put the job back in the queue and propagate, for Celery to retry.
    """
    with job_context(job_id):
        if not job_claim(job_id=job_id, worker=worker):
            state = Job.objects.filter(pk=job_id).values_list("state", flat=True).first()
            log.info("job %s not claimed (state %s): duplicate or cancelled delivery", job_id, state)
            return None
        job = Job.objects.get(pk=job_id)
        progress = JobProgress(job_id)
        loggers = [logging.getLogger(name) for name in _WATCHED_LOGGERS]
        for logger in loggers:
            logger.addHandler(progress.logs)
        heartbeat = _Heartbeat(job_id, progress)
        heartbeat.start()
        succeeded, outcome = False, JobOutcome()
        try:
            log.info("job %s (%s) started on %s", job_id, job.kind, worker or "this process")
            outcome = work(job, progress) or JobOutcome()
        except Cancelled:
            log.info("job %s cancelled", job_id)
            _finish(job_id, state=Job.State.CANCELLED, message="Cancelled by an operator",
                    log_tail=progress.logs.text())
        except retry_on as exc:
            job_requeue(job_id=job_id, reason=f"{type(exc).__name__}: {exc}")
            raise
        except Exception as exc:
            log.exception("job %s failed", job_id)  # the traceback joins the log tail here, once
            job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}", log_tail=progress.logs.text())
        else:
            log.info("job %s succeeded", job_id)
            succeeded = job_succeed(job_id=job_id, outcome=outcome, log_tail=progress.logs.text())
        finally:
            heartbeat.stopped.set()
            heartbeat.join(timeout=5)
            for logger in loggers:
                logger.removeHandler(progress.logs)
        if succeeded and outcome.follow_up is not None:
            try:
                outcome.follow_up()
            except Exception:  # the job itself succeeded; what follows it says why it did not start
                log.exception("what follows job %s could not start", job_id)
        job.refresh_from_db()
        return job
