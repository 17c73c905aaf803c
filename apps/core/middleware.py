"""Edge middleware: the client's address behind trusted proxies; query strings holding NUL are
refused; an unavailable database answers 503.

None ever shows a stack trace: JSON under /api/, a short text or HTML answer elsewhere.
"""
from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from .validation import NUL_MESSAGE

log = logging.getLogger(__name__)


def forwarded_client_address(forwarded_for: str, remote_addr: str, trusted_proxies: int) -> str:
    """The client's address as the outermost of `trusted_proxies` proxies saw it.

    Each proxy appends the address it received the request from to X-Forwarded-For, so the
    last `trusted_proxies` entries were written by our proxies; anything to their left came from
    the client and may be forged. With no proxy trusted, or a header that is too short or not an
    address, the TCP peer (`remote_addr`) is the answer.
    """
    if trusted_proxies <= 0:
        return remote_addr
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    if len(hops) < trusted_proxies:
        return remote_addr
    try:
        address = ipaddress.ip_address(hops[-trusted_proxies])
    except ValueError:
        return remote_addr
    # An IPv4 client seen by an IPv6 socket (::ffff:a.b.c.d) counts as the same client.
    return str(getattr(address, "ipv4_mapped", None) or address)


class ClientAddressMiddleware:
    """Puts the client's address in REMOTE_ADDR when the app runs behind TRUSTED_PROXY_COUNT
    reverse proxies, so that rate limits, the login lockout (django-axes), /metrics and the audit
    trail all see the client, not the proxy. With no proxy trusted (the default) it does nothing:
    X-Forwarded-For is then whatever the client chose to send."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        trusted = settings.TRUSTED_PROXY_COUNT
        if trusted:
            peer = request.META.get("REMOTE_ADDR", "")
            request.META["REMOTE_ADDR"] = forwarded_client_address(
                request.META.get("HTTP_X_FORWARDED_FOR", ""), peer, trusted)
        return self.get_response(request)


def client_address(request: HttpRequest) -> str | None:
    """The client's address (django-axes' AXES_CLIENT_IP_CALLABLE): REMOTE_ADDR, which
    ClientAddressMiddleware has already resolved through the trusted proxies."""
    return request.META.get("REMOTE_ADDR") or None


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
