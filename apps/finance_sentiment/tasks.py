"""Celery entry points of finance sentiment: each is one line that calls a service.

Services queue these by name (apps/finance_sentiment/services/jobs.py) and never import this
module, so imports run one way: tasks -> services (issue 19).
"""
from __future__ import annotations

from celery import shared_task

from apps.core.services.jobs import JobOutcome
from apps.core.tasking import job_task

from .services import jobs
from .services.delivery import delivery_attempt
from .services.feeds import feed_poll

# Kept importable from here (older callers and tests); the starter lives in services.jobs.
rebuild_scores_start = jobs.rebuild_scores_start


@job_task(jobs.SCORE_BATCH, queue="inference")
def score_batch_job(job, progress) -> JobOutcome:
    """Score a batch's pending documents (or, with params["pending"], any left pending), then alerts."""
    return jobs.score_batch_run(job=job, progress=progress)


@job_task(jobs.REBUILD_SCORES, queue="training")
def rebuild_scores_job(job, progress) -> JobOutcome:
    """Rescore history with the active sentiment version and/or re-assign topics; trends follow."""
    return jobs.rebuild_scores_run(job=job, progress=progress)


@shared_task(name="finance_sentiment.score_pending")
def score_pending() -> str | None:
    """Beat: documents left pending are scored once a model is active (one sweep at a time)."""
    job = jobs.score_pending_start()
    return str(job.pk) if job is not None else None


@shared_task(name="finance_sentiment.poll_feeds")
def poll_feeds() -> int:
    """Beat: claim the feeds that are due and poll each in its own task."""
    return jobs.feeds_poll_due()


@shared_task(name=jobs.POLL_FEED)
def poll_feed(feed_id: int) -> str:
    return feed_poll(feed_id=feed_id).outcome


@shared_task(name=jobs.DELIVER_ALERT)
def deliver_alert(delivery_id: int) -> str | None:
    delivery = delivery_attempt(delivery_id=delivery_id)
    return delivery.state if delivery else None


@shared_task(name="finance_sentiment.retry_alert_deliveries")
def retry_alert_deliveries() -> int:
    """Beat: send the deliveries whose retry time has come."""
    return jobs.deliveries_send_due()
