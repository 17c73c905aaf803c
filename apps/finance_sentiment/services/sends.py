"""Names of finance sentiment's Celery tasks, and sending the plain ones by name.

A leaf module: the services that queue work (ingestion, alerts, services.jobs) import it and never
the tasks module, so imports run one way (issue 19).
"""
from __future__ import annotations

from apps.core.queues import task_send

SCORE_BATCH = "finance_sentiment.score_batch"
REBUILD_SCORES = "finance_sentiment.rebuild_scores"
POLL_FEED = "finance_sentiment.poll_feed"
DELIVER_ALERT = "finance_sentiment.deliver_alert"


def feed_poll_send(*, feed_id: int) -> None:
    """Poll one feed in its own task (inference queue)."""
    task_send(POLL_FEED, args=[feed_id])


def delivery_send(*, delivery_id: int) -> None:
    """Attempt one alert delivery in its own task."""
    task_send(DELIVER_ALERT, args=[delivery_id])
