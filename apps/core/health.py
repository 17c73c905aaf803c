"""GET /healthz for load balancers and operators; GET /metrics for Prometheus.

Health answers 200 when the database and the broker answer (models still loading or missing
make it "degraded", not down) and 503 otherwise, naming the failing part but never leaking
settings, hosts or stack traces.

Each active version's files are checked against their manifest at every call; hashes of files
whose size, mtime, ctime and inode did not change are reused (services.model_files), so the
check costs a few `stat` calls, notices a damaged file at once and clears once it is repaired.
"""
from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .metrics import metrics_access_allowed, render_metrics
from .models import ModelVersion
from .services.model_files import model_version_files_check
from .services.registry import ActiveModelCache

log = logging.getLogger(__name__)


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        result = {"ok": True, **(check() or {})}
    except Exception as exc:  # noqa: BLE001
        log.warning("health check %s failed: %s", check.__name__, exc)
        result = {"ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def check_broker() -> dict:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        from pathlib import Path

        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        if not folder.is_dir():
            raise FileNotFoundError("broker folder missing")
        return {"transport": "filesystem"}
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return {"transport": url.split("://", 1)[0]}


def check_models() -> dict:
    """Each active version's files are sound ("ok", "missing" or "corrupted"); each model this
    process serves loaded. Not ok names the scenarios with a problem."""
    scenarios = {}
    for version in ModelVersion.objects.filter(is_active=True):
        files = model_version_files_check(version)
        scenarios[version.scenario] = {"version": version.version, "files": files.state}
        if not files.ok:
            # Named for operators in the log; the response itself says only which scenario and state.
            log.error("active %s: %s", version, files.detail)
    for cache in ActiveModelCache.all():
        entry = scenarios.setdefault(cache.scenario, {})
        loaded = cache._loaded
        entry["served_version"] = loaded.version if loaded else None
        if cache.last_error:  # its words (logged when it happened) may name server paths
            entry["load_failed"] = True
    problems = sorted(s for s, e in scenarios.items() if e.get("files", "ok") != "ok" or e.get("load_failed"))
    if problems:
        return {"ok": False, "problems": problems, "scenarios": scenarios}
    return {"scenarios": scenarios}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _timed(check_database), "broker": _timed(check_broker)}
    models = _timed(check_models) if checks["database"]["ok"] else {"ok": False, "error": "database down"}
    checks["models"] = models
    essential_ok = checks["database"]["ok"] and checks["broker"]["ok"]
    status = "ok" if essential_ok and models["ok"] else ("degraded" if essential_ok else "down")
    return JsonResponse({"status": status, "checks": checks}, status=200 if essential_ok else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        return HttpResponse("Forbidden: set METRICS_TOKEN and send it as a bearer token.\n",
                            status=403, content_type="text/plain")
    return HttpResponse(render_metrics(), content_type="text/plain; version=0.0.4; charset=utf-8")
