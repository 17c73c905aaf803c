"""Prometheus metrics: request latency (observed in-process), and at scrape time queue depth,
jobs by kind and state, job durations, and the model version active per scenario.

Who may read it: anyone sending METRICS_TOKEN as a bearer token; callers on this machine only
where METRICS_ALLOW_LOOPBACK says so (off by default: behind a reverse proxy on the same host,
every visitor arrives from a loopback address).

Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR to an empty folder shared by
them (prometheus_client's multiprocess mode); the scrape-time figures come from the database
and the broker, so they are the same whichever process answers.
"""
from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")

REQUEST_LATENCY = Histogram(
    "suite_http_request_duration_seconds", "Time to answer an HTTP request",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(method, route, f"{status // 100}xx").observe(seconds)


def queue_depths() -> dict[str, int]:
    """Messages waiting per queue, read from the broker itself."""
    from django.conf import settings

    depths = {}
    url = settings.CELERY_BROKER_URL
    for queue in settings.CELERY_TASK_QUEUES_NAMES:
        if url.startswith("filesystem://"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            depths[queue] = sum(1 for _ in folder.glob(f"*.{queue}.msg"))
        elif url.startswith(("redis://", "rediss://")):
            import redis

            depths[queue] = redis.Redis.from_url(url, socket_timeout=2).llen(queue)
    return depths


class SuiteCollector(Collector):
    def collect(self):
        from django.db.models import Avg, Count, F, Max

        from .models import Job, ModelVersion

        jobs = GaugeMetricFamily("suite_jobs", "Jobs by kind and state", labels=["kind", "state"])
        for row in Job.objects.values("kind", "state").annotate(n=Count("id")):
            jobs.add_metric([row["kind"], row["state"]], row["n"])
        yield jobs

        durations = GaugeMetricFamily("suite_job_duration_seconds",
                                      "Mean and longest duration of finished jobs by kind",
                                      labels=["kind", "stat"])
        finished = (Job.objects.filter(state=Job.State.SUCCEEDED, started_at__isnull=False)
                    .annotate(d=F("finished_at") - F("started_at")).values("kind")
                    .annotate(mean=Avg("d"), longest=Max("d")))
        for row in finished:
            for stat in ("mean", "longest"):
                if row[stat] is not None:
                    durations.add_metric([row["kind"], stat], row[stat].total_seconds())
        yield durations

        active = GaugeMetricFamily("suite_model_version_active", "Active model version per scenario",
                                   labels=["scenario"])
        for scenario, version in ModelVersion.objects.filter(is_active=True).values_list("scenario", "version"):
            active.add_metric([scenario], version)
        yield active

        depth = GaugeMetricFamily("suite_queue_depth", "Messages waiting in the broker", labels=["queue"])
        try:
            for queue, n in queue_depths().items():
                depth.add_metric([queue], n)
        except Exception as exc:  # the broker being down must not break the scrape  # noqa: BLE001
            log.warning("queue depth unavailable: %s", exc)
        yield depth


def render_metrics() -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_LATENCY)
    registry.register(SuiteCollector())
    return generate_latest(registry)


def metrics_access_allowed(request) -> bool:
    """The bearer token when one is configured; a loopback caller only if METRICS_ALLOW_LOOPBACK."""
    from django.conf import settings

    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(given.encode(), token.encode()):
            return True
    return settings.METRICS_ALLOW_LOOPBACK and request.META.get("REMOTE_ADDR") in LOOPBACK_ADDRESSES
