"""The public edge of the chat: site keys, exact-origin checks, widget tokens, rate limits,
idempotency keys.

A request is accepted for a site when it comes from one of the site's allowed origins, known
either from the browser's `Origin` header (a page calling the API itself, with CORS) or from a
widget token: the widget's frame page is served only to allowed origins (and may only be framed
by them: `Content-Security-Policy: frame-ancestors`), and it signs the embedding page's origin
into a token that its own requests carry. The origin is checked against the site's current list
on every request, so removing an origin takes effect at once.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..models import IdempotencyRecord, Site, normalise_origin

log = logging.getLogger(__name__)

WIDGET_TOKEN_SALT = "customer_service.widget"
WIDGET_TOKEN_MAX_AGE_S = 24 * 3600
HISTORY_RATE = "120/m"  # the widget polls the conversation every few seconds
MAX_IDEMPOTENCY_KEY_CHARS = 255


class EdgeError(Exception):
    """A request refused at the edge: HTTP status and a message that says why."""

    status = 400

    def __init__(self, message: str, status: int | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.retry_after = retry_after


def site_get(*, public_key: str) -> Site:
    site = Site.objects.filter(public_key=str(public_key or "")[:64], is_active=True).first()
    if site is None:
        raise EdgeError("unknown or disabled site key", status=403)
    return site


def site_save(*, form) -> Site:
    """Create or change a site from the admins' form (its fields validated there)."""
    return form.save()


def origin_allowed(site: Site, origin: str) -> bool:
    try:
        return normalise_origin(origin) in site.origin_list()
    except Exception:  # noqa: BLE001
        return False


# What may stand in a CSP source list: scheme://host[:port], nothing else (no space, no ';').
_PLAIN_ORIGIN = re.compile(r"https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?")


@dataclass
class FrameRefusal:
    """Why the widget's frame is not served to a page, and that page's origin ("" when it named
    none that could be framed)."""

    reason: str
    parent_origin: str


def widget_frame_refusal(*, site: Site | None, origin: str) -> FrameRefusal | None:
    """None when the frame may be served to `origin`; else why not, in words for the page's visitor
    and (in the browser console) its owner. The refusal page holds no token and nothing to click,
    so the page that asked may frame it: the widget then says why instead of showing the
    browser's broken frame."""
    if site is not None and origin_allowed(site, origin):
        return None
    try:
        parent = normalise_origin(origin)
    except (ValidationError, ValueError):
        parent = ""
    if not _PLAIN_ORIGIN.fullmatch(parent):
        parent = ""
    if site is None:
        return FrameRefusal("the site key is unknown or disabled", parent)
    return FrameRefusal(f"{parent or 'this page'} is not an allowed origin for this chat", parent)


def widget_token_issue(*, site: Site, origin: str) -> str:
    return signing.dumps({"k": site.public_key, "o": normalise_origin(origin)}, salt=WIDGET_TOKEN_SALT,
                         compress=True)


def request_origin(*, site: Site, origin_header: str | None, widget_token: str | None) -> tuple[str, bool]:
    """(the origin the request acts for, whether it came through the widget frame), or EdgeError."""
    if widget_token:
        try:
            data = signing.loads(widget_token, salt=WIDGET_TOKEN_SALT, max_age=WIDGET_TOKEN_MAX_AGE_S)
        except signing.SignatureExpired:
            raise EdgeError("the widget session expired; reload the page", status=401)
        except signing.BadSignature:
            raise EdgeError("invalid widget token", status=403)
        if data.get("k") != site.public_key:
            raise EdgeError("the widget token belongs to another site", status=403)
        origin, via_widget = data.get("o", ""), True
    else:
        if not origin_header or origin_header == "null":
            raise EdgeError("requests must come from a web page of an allowed origin (no Origin header)",
                            status=403)
        origin, via_widget = origin_header, False
    if not origin_allowed(site, origin):
        raise EdgeError(f"origin {origin} is not allowed for this site", status=403)
    return origin, via_widget


def any_site_allows(origin: str) -> bool:
    """For CORS preflights, which carry no site key."""
    try:
        wanted = normalise_origin(origin)
    except Exception:  # noqa: BLE001
        return False
    return any(wanted in site.origin_list() for site in Site.objects.filter(is_active=True).only("allowed_origins"))


def rate_limit_check(*, request, site: Site, kind: str = "chat") -> None:
    """Count this request per IP and per site key (a cache shared by every process: CACHE_URL)."""
    from django_ratelimit.core import get_usage

    if kind == "history":
        limits = [("ip", HISTORY_RATE, "ip")]
    else:
        limits = [("ip", site.rate_limit_per_ip, "ip"), ("site", site.rate_limit_per_site,
                                                        lambda group, req: site.public_key)]
    for name, rate, key in limits:
        try:
            usage = get_usage(request, group=f"customer_service.{kind}.{name}.{site.pk}", key=key, rate=rate,
                              increment=True)
        except Exception as exc:  # the cache (Redis) is down: keep answering, say so in the log  # noqa: BLE001
            log.warning("rate limit not checked, the cache failed: %s: %s", type(exc).__name__, exc)
            return
        if usage and usage["should_limit"]:
            who = "this visitor" if name == "ip" else "this site"
            # At the very end of a window django-ratelimit says 0 s left: wait at least a second.
            wait = max(1, int(usage["time_left"]))
            raise EdgeError(f"too many requests from {who} (limit {rate}); try again in {wait} s", status=429,
                            retry_after=wait)


# --- idempotency keys ----------------------------------------------------------------------------
@dataclass
class IdempotencyClaim:
    record: IdempotencyRecord | None  # None: no key was sent
    replay: tuple[int, Any] | None = None  # (status, body) stored for this key


def _request_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def idempotency_claim(*, scope: str, key: str | None, payload: dict) -> IdempotencyClaim:
    """Reserve `key` for this request, or find the stored response of its first use.

    Same key with a different request: 422. Same key while the first request still runs: 409.
    """
    if key is None:
        return IdempotencyClaim(None)
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise EdgeError(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters")
    digest = _request_hash(payload)
    try:
        with transaction.atomic():
            return IdempotencyClaim(IdempotencyRecord.objects.create(scope=scope, key=key, request_hash=digest))
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if record is None:  # its first request failed and released the key in between
        return idempotency_claim(scope=scope, key=key, payload=payload)
    if record.request_hash != digest:
        raise EdgeError("this Idempotency-Key was already used for a different request", status=422)
    if record.status_code is None:
        if _take_over_abandoned(record):
            return IdempotencyClaim(record)
        raise EdgeError("a request with this Idempotency-Key is still being processed; retry shortly", status=409)
    return IdempotencyClaim(record, replay=(record.status_code, record.response))


def _take_over_abandoned(record: IdempotencyRecord) -> bool:
    """A claim left pending longer than any request may run was abandoned: its request died with
    the database connection or the process, too early to release it. Take it over, atomically."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    # Longer than the web server lets a request run (gunicorn --timeout 120 in docker/compose.yaml).
    pending_s = getattr(settings, "CUSTOMER_SERVICE_IDEMPOTENCY_PENDING_S", 130)
    now = timezone.now()
    return bool(IdempotencyRecord.objects.filter(
        pk=record.pk, status_code=None, created_at__lt=now - timedelta(seconds=pending_s),
    ).update(created_at=now))


def idempotency_complete(*, claim: IdempotencyClaim, status: int, body: Any) -> None:
    if claim.record is not None:
        IdempotencyRecord.objects.filter(pk=claim.record.pk).update(status_code=status, response=body)


def idempotency_release(*, claim: IdempotencyClaim) -> None:
    """The request failed: let the client retry with the same key."""
    if claim.record is not None:
        IdempotencyRecord.objects.filter(pk=claim.record.pk, status_code=None).delete()


def idempotency_purge(*, older_than_hours: int = 48) -> int:
    from datetime import timedelta

    from django.utils import timezone

    cutoff = timezone.now() - timedelta(hours=older_than_hours)
    return IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()[0]
