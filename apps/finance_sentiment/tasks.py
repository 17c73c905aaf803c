"""Celery entry points of finance sentiment. Thin: they call services.

Jobs (progress, cancel): score_batch (inference queue), rebuild_scores (training queue: it
rescores the whole history and may run long). Plain tasks: feed polls, alert deliveries, and the
beat sweeps that start them.
"""
from __future__ import annotations

import logging

from celery import shared_task
from django.utils.dateparse import parse_datetime

from apps.core.models import Job
from apps.core.services.jobs import JobOutcome, job_start
from apps.core.tasking import job_task

log = logging.getLogger(__name__)


@job_task("finance_sentiment.score_batch", queue="inference")
def score_batch_job(job, progress) -> JobOutcome:
    """Score a batch's pending documents (or, with params["pending"], any left pending), then alerts."""
    from .models import IngestBatch
    from .services.alerts import alerts_evaluate
    from .services.scoring import documents_score, pending_documents

    params = job.params or {}
    if params.get("pending"):
        documents = pending_documents(left_behind=True, limit=int(params.get("limit", 20_000)))
        evaluate = True
    else:
        batch = IngestBatch.objects.get(pk=params["batch"])
        documents = pending_documents(batch_id=batch.pk)
        evaluate = batch.evaluate_alerts
    progress(1.0, f"scoring {len(documents)} documents")
    summary = documents_score(documents=documents, job=job, progress=lambda p, m="": progress(1 + 0.97 * p, m))
    opened = alerts_evaluate(touched=summary.touched) if evaluate else []
    metrics = {**summary.metrics(), "alerts_opened": len(opened), "model_version_id": summary.model_version_id}
    return JobOutcome(metrics=metrics, result={"alerts": [a.pk for a in opened]},
                      message=f"Scored {summary.scored} documents"
                              + (f" at {metrics['docs_per_s']} docs/s" if metrics["docs_per_s"] else "")
                              + (f"; {len(opened)} alert(s) opened" if opened else ""))


@job_task("finance_sentiment.rebuild_scores", queue="training")
def rebuild_scores_job(job, progress) -> JobOutcome:
    """Rescore history with the active sentiment version and/or re-assign topics; trends follow."""
    from .services.scoring import documents_reassign_topics, documents_rescore

    params = job.params or {}
    since = parse_datetime(params["since"]) if params.get("since") else None
    metrics: dict = {}
    do_sentiment, do_topics = params.get("sentiment", True), params.get("topics", False)
    sentiment_share = 100.0 if not do_topics else 60.0
    if do_sentiment:
        summary = documents_rescore(job=job, since=since, progress=lambda p, m="": progress(sentiment_share * p / 100, m))
        metrics.update(summary.metrics())
    if do_topics:
        base = sentiment_share if do_sentiment else 0.0
        metrics.update({f"topics_{k}": v for k, v in documents_reassign_topics(
            job=job, since=since, progress=lambda p, m="": progress(base + (100 - base) * p / 100, m)).items()})
    parts = []
    if do_sentiment:
        parts.append(f"rescored {metrics['rescored']} documents ({metrics['changed_label']} changed label)")
    if do_topics:
        parts.append(f"re-assigned topics of {metrics['topics_documents']} ({metrics['topics_moved']} changed)")
    return JobOutcome(metrics=metrics, message="; ".join(parts).capitalize() or "Nothing to do")


def rebuild_scores_start(*, created_by=None, sentiment: bool = True, topics: bool = False, since=None) -> Job:
    what = " and ".join(w for w, on in (("rescore sentiment", sentiment), ("re-assign topics", topics)) if on)
    return job_start(task=rebuild_scores_job, title=f"Finance: {what} of stored documents",
                     params={"sentiment": sentiment, "topics": topics, "since": since.isoformat() if since else None},
                     scenario="finance_sentiment.sentiment", created_by=created_by)


@shared_task(name="finance_sentiment.score_pending")
def score_pending() -> str | None:
    """Beat: documents left pending (their job failed while no model was active, or it was lost)
    are scored once a model is active."""
    from .services.analyzers import sentiment_cache
    from .services.scoring import pending_documents

    if Job.objects.filter(kind=score_batch_job.name, params__pending=True, state__in=Job.ACTIVE_STATES).exists():
        return None  # the previous sweep is still at it
    if not pending_documents(left_behind=True, limit=1) or sentiment_cache.get() is None:
        return None
    job = job_start(task=score_batch_job, title="Score documents left pending", params={"pending": True},
                    scenario="finance_sentiment.sentiment")
    return str(job.pk)


@shared_task(name="finance_sentiment.poll_feeds")
def poll_feeds() -> int:
    """Beat: claim the feeds that are due and poll each in its own task."""
    from .services.feeds import feeds_claim_due

    claimed = feeds_claim_due()
    for feed_id in claimed:
        poll_feed.delay(feed_id)
    return len(claimed)


@shared_task(name="finance_sentiment.poll_feed")
def poll_feed(feed_id: int) -> str:
    from .services.feeds import feed_poll

    return feed_poll(feed_id=feed_id).outcome


@shared_task(name="finance_sentiment.deliver_alert")
def deliver_alert(delivery_id: int) -> str | None:
    from .services.delivery import delivery_attempt

    delivery = delivery_attempt(delivery_id=delivery_id)
    return delivery.state if delivery else None


@shared_task(name="finance_sentiment.retry_alert_deliveries")
def retry_alert_deliveries() -> int:
    """Beat: send the deliveries whose retry time has come."""
    from .services.delivery import deliveries_due

    due = deliveries_due()
    for delivery_id in due:
        deliver_alert.delay(delivery_id)
    return len(due)
