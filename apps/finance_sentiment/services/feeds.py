"""RSS/Atom feeds: conditional GET, parsing with feedparser, per-feed error state and back-off.

Beat runs `finance_sentiment.poll_feeds` every minute; it claims the feeds that are due (one
conditional UPDATE each, so two beats or workers never poll a feed twice) and polls each in its
own task. Every request goes through apps.core.outbound_http (public addresses only, unless an
admin allow-lists an intranet server; bounded redirects, size and time). A poll sends
If-None-Match / If-Modified-Since from the last answer; 304 means nothing new. New entries (URL
not stored yet) go through the same ingestion as the API, as one batch with its scoring job.
Failures (an address not allowed, HTTP errors, timeouts, not a feed) are stored on the feed and
push its next poll back: interval x 2^failures, at most FINANCE_FEED_MAX_BACKOFF_S.
"""
from __future__ import annotations

import calendar
import html
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.html import strip_tags

from apps.core import outbound_http

from ..fingerprints import url_hash
from ..models import Document, Feed, IngestBatch
from .ingestion import documents_ingest

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=5)
USER_AGENT = "ai-suite-finance-sentiment/1 (+feed poller)"
# feedparser flags these but the entries are fine.
BENIGN_BOZO = ("CharacterEncodingOverride", "NonXMLContentType")


class FeedError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class PollResult:
    outcome: str  # "new" | "nothing new" | "not modified" | "error" | "paused"
    http_status: int | None = None
    entries: int = 0
    batch: IngestBatch | None = None
    error: str = ""
    warning: str = ""


def feeds_claim_due(*, now: datetime | None = None) -> list[int]:
    """The active feeds due for a poll, each claimed for CLAIM_LEASE so nobody else polls it."""
    now = now or timezone.now()
    claimed = []
    due = Feed.objects.filter(is_active=True).filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
    for pk, next_poll_at in due.values_list("pk", "next_poll_at"):
        if Feed.objects.filter(pk=pk, next_poll_at=next_poll_at).update(next_poll_at=now + CLAIM_LEASE):
            claimed.append(pk)
    return claimed


def _fetch(feed: Feed) -> tuple[int, bytes, dict[str, str]]:
    """GET the feed through the outbound client (public addresses only, bounded redirects, size, time)."""
    headers = {"User-Agent": USER_AGENT,
               "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    try:
        response = outbound_http.request("GET", feed.url, headers=headers, timeout_s=settings.FINANCE_FEED_TIMEOUT_S,
                                         max_bytes=settings.FINANCE_FEED_MAX_BYTES)
        response.raise_for_status()
    except outbound_http.OutboundHTTPError as exc:
        raise FeedError(str(exc), exc.status) from None
    return response.status, response.body, response.headers


def _entry_time(entry) -> str | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC).isoformat()


def _plain(value: str) -> str:
    return " ".join(html.unescape(strip_tags(value or "")).split())


def entry_to_item(entry, *, language: str = "") -> dict:
    """A feed entry as an ingestion item (the title stands in for a missing summary)."""
    title = _plain(entry.get("title", ""))
    text = ""
    if entry.get("content"):
        text = _plain(entry["content"][0].get("value", ""))
    text = text or _plain(entry.get("summary", "")) or title
    item = {"title": title[:500], "text": text, "url": entry.get("link", "") or "",
            "published_at": _entry_time(entry)}
    if language:
        item["language"] = language.split(",")[0].strip()[:16]
    return item


def feed_poll(*, feed_id: int) -> PollResult:
    """Poll one feed now and record the outcome on it."""
    import feedparser

    feed = Feed.objects.get(pk=feed_id)
    if not feed.is_active:  # paused after its poll was queued
        return PollResult("paused")
    now = timezone.now()
    try:
        status, body, headers = _fetch(feed)
        if status == 304:
            result = PollResult("not modified", 304)
        else:
            parsed = feedparser.parse(body, response_headers=headers)
            problem = parsed.get("bozo_exception")
            benign = problem is not None and type(problem).__name__ in BENIGN_BOZO
            usable = [e for e in parsed.entries if entry_to_item(e)["text"]]
            if parsed.bozo and not benign and not usable:
                raise FeedError(f"not well-formed XML: {problem}", status)
            if not parsed.get("version") and not parsed.entries:
                raise FeedError("the answer is not an RSS or Atom feed "
                                f"(content type {headers.get('content-type', 'unknown')})", status)
            warning = f"malformed XML ({problem}); {len(usable)} entries recovered" \
                if parsed.bozo and not benign else ""
            result = _ingest_entries(feed, parsed, status, warning)
            feed.etag = headers.get("etag", "")[:300]
            feed.last_modified = headers.get("last-modified", "")[:100]
    except FeedError as exc:
        failures = feed.consecutive_failures + 1
        backoff = min(feed.poll_interval_s * 2 ** min(failures, 16), settings.FINANCE_FEED_MAX_BACKOFF_S)
        Feed.objects.filter(pk=feed.pk).update(
            status=Feed.Status.ERROR, last_error=str(exc)[:2000], last_http_status=exc.status,
            consecutive_failures=failures, last_polled_at=now, next_poll_at=now + timedelta(seconds=backoff))
        log.warning("feed %s (%s) failed (%d in a row; next try in %d s): %s", feed.pk, feed.url, failures,
                    backoff, exc)
        return PollResult("error", exc.status, error=str(exc))
    Feed.objects.filter(pk=feed.pk).update(
        status=Feed.Status.OK, last_error=result.warning, last_http_status=result.http_status, consecutive_failures=0,
        last_polled_at=now, last_success_at=now, next_poll_at=now + timedelta(seconds=feed.poll_interval_s),
        etag=feed.etag, last_modified=feed.last_modified)
    log.info("feed %s polled: %s (%d entries)", feed.pk, result.outcome, result.entries)
    return result


def _ingest_entries(feed: Feed, parsed, status: int, warning: str) -> PollResult:
    language = parsed.feed.get("language", "") if parsed.get("feed") else ""
    items = [entry_to_item(entry, language=language) for entry in parsed.entries]
    # Entries seen in an earlier poll are skipped quietly: a feed repeats its recent items.
    known = set(Document.objects.filter(url_hash__in=[url_hash(i["url"]) for i in items if i["url"]])
                .values_list("url_hash", flat=True))
    new_items = [i for i in items if not (i["url"] and url_hash(i["url"]) in known)]
    new_items = new_items[: settings.FINANCE_MAX_BATCH_ITEMS]
    if not new_items:
        return PollResult("nothing new", status, entries=len(items), warning=warning)
    ingest = documents_ingest(items=new_items, origin=IngestBatch.Origin.FEED, label=feed.name, feed=feed,
                              default_source=feed.name, wheres=[i["url"] or f"entry {n + 1}" for n, i in enumerate(new_items)])
    return PollResult("new", status, entries=len(items), batch=ingest.batch, warning=warning)
