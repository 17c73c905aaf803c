"""Edge middleware: query strings holding NUL are refused; an unavailable database answers 503.

Neither ever shows a stack trace: JSON under /api/, a short text or HTML answer elsewhere.
"""
from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from .validation import NUL_MESSAGE

log = logging.getLogger(__name__)


class RejectNulQueryMiddleware:
    """400 for a query string with U+0000 in a name or value: PostgreSQL cannot compare or store
    it, so a filter built from it would fail as a server error instead of a clear refusal."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in key or any("\x00" in value for value in values)
               for key, values in request.GET.lists()):
            detail = f"the query string {NUL_MESSAGE}"
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": detail}, status=400)
            return HttpResponse(detail + "\n", status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

RETRY_AFTER_S = 5
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>
<body><h1>Temporarily unavailable</h1>
<p>The service cannot reach its database right now. Nothing was saved; please try again in a few seconds.</p>
</body></html>
"""


class DatabaseUnavailableMiddleware:
    """Turns the database's OperationalError/InterfaceError into 503 with Retry-After.

    JSON under /api/, a short HTML page elsewhere. The view's transaction was rolled back by the
    exception (or died with the connection), so the request stored nothing; the broken
    connection is closed so the next request connects afresh.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.error("database unavailable during %s %s: %s: %s", request.method, request.path,
                  type(exception).__name__, str(exception).strip()[:300])
        for conn in connections.all(initialized_only=True):
            if not conn.in_atomic_block:
                conn.close()
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": "The database is unavailable; nothing was saved. Try again shortly."},
                                status=503, headers=headers)
        return HttpResponse(_PAGE, status=503, headers=headers, content_type="text/html; charset=utf-8")
