"""Finance sentiment's jobs and background sends: `<thing>_start` queues, `<thing>_run(job, progress)` works.

Tasks (apps/finance_sentiment/tasks.py) are one line each and are queued here by name, so no
service imports the tasks module (issue 19). Jobs: score_batch (inference queue), rebuild_scores
(training queue: it rescores the whole history and may run long). Plain tasks: feed polls and
alert deliveries.
"""
from __future__ import annotations

from django.utils.dateparse import parse_datetime

from apps.core.models import Job
from apps.core.services.jobs import JobOutcome, job_start

from ..scenario import SENTIMENT_SCENARIO
from .sends import DELIVER_ALERT, POLL_FEED, REBUILD_SCORES, SCORE_BATCH, delivery_send, feed_poll_send

__all__ = [
    "DELIVER_ALERT", "POLL_FEED", "REBUILD_SCORES", "SCORE_BATCH", "deliveries_send_due", "delivery_send",
    "feed_poll_send", "feeds_poll_due", "rebuild_scores_run", "rebuild_scores_start", "score_batch_run",
    "score_pending_start", "sentiment_version_activated",
]


def score_batch_run(*, job: Job, progress) -> JobOutcome:
    """Score a batch's pending documents (or, with params["pending"], any left pending), then alerts."""
    from ..models import IngestBatch
    from .alerts import alerts_evaluate
    from .scoring import documents_score, pending_documents

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


def sentiment_version_activated(version) -> None:
    """A sentiment version went live: documents that waited for a model are scored now, not at the
    next sweep (up to two minutes later; the demo's documents waited for its first model)."""
    score_pending_start(model_just_activated=True)


def score_pending_start(*, model_just_activated: bool = False) -> Job | None:
    """Beat's sweep: documents left pending (their job failed while no model was active, or it was
    lost) are scored once a model is active. None when there is nothing to do or a sweep still runs.
    `model_just_activated`: a version was just activated, so there is no need to load it here."""
    from ..serving import sentiment_cache
    from .scoring import pending_documents

    if Job.objects.filter(kind=SCORE_BATCH, params__pending=True, state__in=Job.ACTIVE_STATES).exists():
        return None  # the previous sweep is still at it
    if not pending_documents(left_behind=True, limit=1):
        return None
    if not model_just_activated and sentiment_cache.get() is None:
        return None
    return job_start(task=SCORE_BATCH, title="Score documents left pending", params={"pending": True},
                     scenario=SENTIMENT_SCENARIO)


def rebuild_scores_start(*, created_by=None, sentiment: bool = True, topics: bool = False, since=None) -> Job:
    what = " and ".join(w for w, on in (("rescore sentiment", sentiment), ("re-assign topics", topics)) if on)
    return job_start(task=REBUILD_SCORES, title=f"Finance: {what} of stored documents",
                     params={"sentiment": sentiment, "topics": topics, "since": since.isoformat() if since else None},
                     scenario=SENTIMENT_SCENARIO, created_by=created_by)


def rebuild_scores_run(*, job: Job, progress) -> JobOutcome:
    """Rescore history with the active sentiment version and/or re-assign topics; trends follow."""
    from .scoring import documents_reassign_topics, documents_rescore

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


def feeds_poll_due() -> int:
    """Beat: claim the feeds that are due and poll each in its own task."""
    from .feeds import feeds_claim_due

    claimed = feeds_claim_due()
    for feed_id in claimed:
        feed_poll_send(feed_id=feed_id)
    return len(claimed)


def deliveries_send_due() -> int:
    """Beat: send the deliveries whose retry time has come."""
    from .delivery import deliveries_due

    due = deliveries_due()
    for delivery_id in due:
        delivery_send(delivery_id=delivery_id)
    return len(due)
