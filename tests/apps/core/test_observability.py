"""Health, metrics and request ids: what operators and their monitoring rely on."""
import json
import logging

import pytest

from apps.core.observability import ContextFilter, job_context, request_id_var
from apps.core.services.jobs import JobOutcome, job_create, job_run
from apps.core.services.registry import (
    BuiltArtifact,
    artifact_dir,
    model_version_activate,
    model_version_create,
)

pytestmark = pytest.mark.django_db


def test_health_is_ok_with_database_and_broker(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


def test_health_names_a_broken_model_without_leaking_details(client):
    def build(folder):
        (folder / "w.txt").write_text("x")
        return BuiltArtifact()

    version = model_version_create(scenario="tests.health", build=build)
    model_version_activate(version=version)
    (artifact_dir(version) / "MANIFEST.json").unlink()
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    models = body["checks"]["models"]
    assert models["ok"] is False and models["problems"] == ["tests.health"]
    assert models["scenarios"]["tests.health"] == {"version": 1, "files": "missing"}
    assert "MANIFEST" not in response.content.decode() and str(artifact_dir(version)) not in response.content.decode()
    assert "SECRET" not in response.content.decode() and "Traceback" not in response.content.decode()


def test_health_is_503_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": "/nonexistent/broker/queue"}
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "down"
    assert response.json()["checks"]["broker"] == {"ok": False, "error": "FileNotFoundError",
                                                   "ms": response.json()["checks"]["broker"]["ms"]}


def test_metrics_report_requests_jobs_and_queues(client, settings, operator_client):
    """Who may read /metrics: tests/apps/core/test_metrics_access.py."""
    settings.METRICS_TOKEN = "s3cret-token"
    operator_client.get("/jobs/")  # a request to observe
    job_create(kind="tests.metric")
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").content.decode()
    assert 'suite_jobs{kind="tests.metric",state="queued"} 1.0' in text
    assert "suite_http_request_duration_seconds_bucket" in text and 'route="job_list"' in text
    assert 'suite_queue_depth{queue="training"}' in text


def test_request_id_is_returned_and_kept_when_sane(client):
    response = client.get("/login/", HTTP_X_REQUEST_ID="trace-12345678")
    assert response["X-Request-ID"] == "trace-12345678"
    generated = client.get("/login/", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert len(generated) == 32 and generated != "bad id\nwith newline"


def test_log_records_carry_request_and_job_ids():
    record = logging.LogRecord("apps.x", logging.INFO, __file__, 1, "hello", None, None)
    token = request_id_var.set("req-1")
    try:
        with job_context("job-9"):
            ContextFilter().filter(record)
    finally:
        request_id_var.reset(token)
    assert (record.request_id, record.job_id) == ("req-1", "job-9")


def test_json_log_lines_include_the_job_id(capsys):
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("%(levelname)s %(message)s %(request_id)s %(job_id)s"))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("apps.tests.json")
    logger.addHandler(handler)
    try:
        job = job_create(kind="t")

        def work(job, progress):
            logger.warning("inside the job")
            return JobOutcome()

        job_run(job_id=job.pk, work=work)
    finally:
        logger.removeHandler(handler)
    line = next(l for l in capsys.readouterr().err.splitlines() if "inside the job" in l)
    assert json.loads(line)["job_id"] == str(job.pk)
