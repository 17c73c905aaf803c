"""Ingestion: validate a batch item by item, drop duplicates, store the good ones, start a Job.

Every source (the REST API, file uploads in the console, feed polling) ends here. Each bad item
gets a rejection naming its index and field; the good items of the same batch are kept. Items
are stored as `pending` documents in one transaction together with the batch row and its Job;
the job (`finance_sentiment.score_batch`) scores them.

Duplicates: the same URL (normalised), the same text (normalised), or a near-identical text
(word-pair Jaccard >= 0.8 by MinHash, same figures) stored in the last FINANCE_NEAR_DUPLICATE_DAYS
days; within a batch the first copy wins. The database's unique constraints settle races between batches.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.core.models import ApiKey
from apps.core.services.jobs import job_create, job_enqueue

from ..fingerprints import TextFingerprint, fingerprint, url_hash
from ..models import Document, DocumentBand, DocumentTicker, Feed, IngestBatch, Ticker
from ..scenario import SENTIMENT_SCENARIO
from .sends import SCORE_BATCH

log = logging.getLogger(__name__)

FIELDS = ("text", "title", "source", "url", "published_at", "language", "tickers")
MAX_TITLE = 500
MAX_SOURCE = 200
MAX_URL = 2000
MAX_TICKERS = 20
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,11}$")
# A published time this far ahead of the clock is a mistake (time zones aside).
FUTURE_TOLERANCE = timedelta(days=1)


class IngestError(Exception):
    """The whole batch is unusable (not a list, too many items...); the message says why."""


@dataclass(frozen=True)
class UnreadableRow:
    """A row of an upload that could not even be parsed; rejected with this reason."""

    reason: str


@dataclass
class Rejection:
    index: int  # 0-based position in the batch (API) or row/line number (uploads: see `where`)
    field: str
    reason: str
    duplicate_of: int | None = None
    where: str = ""  # "row 7", "line 3", an entry link: how a person finds the item

    def to_dict(self) -> dict[str, Any]:
        data = {"index": self.index, "field": self.field, "reason": self.reason}
        if self.duplicate_of is not None:
            data["duplicate_of"] = self.duplicate_of
        if self.where:
            data["where"] = self.where
        return data


@dataclass
class DocumentInput:
    text: str
    title: str = ""
    source: str = ""
    url: str = ""
    published_at: datetime | None = None
    language: str = ""
    tickers: list[str] = field(default_factory=list)
    index: int = 0
    where: str = ""


@dataclass
class IngestResult:
    batch: IngestBatch
    document_ids: list[int]
    rejections: list[Rejection]

    @property
    def job(self):
        return self.batch.job

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch.pk, "job": str(self.batch.job_id) if self.batch.job_id else None,
            "received": self.batch.received, "accepted": self.batch.accepted,
            "rejected": self.batch.rejected, "duplicates": self.batch.duplicates,
            "documents": self.document_ids, "rejections": [r.to_dict() for r in self.rejections],
        }


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _optional_text(raw: dict, name: str, limit: int) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _FieldError(name, f"must be a string, got {_type_name(value)}")
    if "\x00" in value:
        raise _FieldError(name, "contains a NUL character")
    value = value.strip()
    if len(value) > limit:
        raise _FieldError(name, f"is {len(value):,} characters; the limit is {limit:,}")
    return value


class _FieldError(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


def parse_published(value: Any, *, now: datetime) -> datetime | None:
    """An ISO 8601 date-time (naive means UTC) or date; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = parse_datetime(text)
        except ValueError:
            moment = None
        if moment is None:
            try:
                day = parse_date(text)
            except ValueError:
                day = None
            if day is None:
                raise _FieldError("published_at", f"{value[:40]!r} is not an ISO 8601 date-time "
                                                  "(e.g. 2024-05-01T09:30:00Z)")
            moment = datetime(day.year, day.month, day.day)
    else:
        raise _FieldError("published_at", f"must be an ISO 8601 string, got {_type_name(value)}")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    if moment > now + FUTURE_TOLERANCE:
        raise _FieldError("published_at", f"{moment.isoformat()} is in the future")
    if moment.year < 1970:
        raise _FieldError("published_at", f"{moment.isoformat()} is before 1970")
    return moment


def validate_item(raw: Any, *, index: int, now: datetime, where: str = "") -> DocumentInput:
    """One item of a batch, checked field by field; raises _FieldError naming the field."""
    if isinstance(raw, UnreadableRow):
        raise _FieldError("row", raw.reason)
    if not isinstance(raw, dict):
        raise _FieldError("item", f"must be an object with a text field, got {_type_name(raw)}")
    text = raw.get("text")
    if text is None:
        raise _FieldError("text", "is missing")
    if not isinstance(text, str):
        raise _FieldError("text", f"must be a string, got {_type_name(text)}")
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise _FieldError("text", "is empty")
    limit = settings.FINANCE_MAX_TEXT_CHARS
    if len(text) > limit:
        raise _FieldError("text", f"is {len(text):,} characters; the limit is {limit:,}")
    if "\x00" in text:
        raise _FieldError("text", "contains a NUL character")
    title = _optional_text(raw, "title", MAX_TITLE)
    source = _optional_text(raw, "source", MAX_SOURCE)
    url = _optional_text(raw, "url", MAX_URL)
    if url and not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE):
        raise _FieldError("url", f"{url[:60]!r} is not an http(s) URL")
    language = _optional_text(raw, "language", 16)
    if language and not _LANGUAGE.match(language):
        raise _FieldError("language", f"{language!r} is not a language code such as en or pt-BR")
    tickers_raw = raw.get("tickers")
    tickers: list[str] = []
    if tickers_raw is not None:
        if not isinstance(tickers_raw, list):
            raise _FieldError("tickers", f"must be an array of symbols, got {_type_name(tickers_raw)}")
        if len(tickers_raw) > MAX_TICKERS:
            raise _FieldError("tickers", f"has {len(tickers_raw)} symbols; the limit is {MAX_TICKERS}")
        for symbol in tickers_raw:
            if not isinstance(symbol, str) or not _SYMBOL.match(symbol.strip().lstrip("$")):
                raise _FieldError("tickers", f"{symbol!r} is not a ticker symbol (letters, digits, . or -)")
            tickers.append(symbol.strip().lstrip("$").upper())
    published = parse_published(raw.get("published_at"), now=now)
    return DocumentInput(text=text, title=title, source=source, url=url, published_at=published,
                         language=language.lower() if language else "", tickers=list(dict.fromkeys(tickers)),
                         index=index, where=where)


@dataclass
class _Candidate:
    item: DocumentInput
    url_hash: str
    fingerprint: TextFingerprint


def _find_stored_duplicates(candidates: list[_Candidate], *, now: datetime) -> dict[int, tuple[int, str]]:
    """{candidate position: (document id, "URL"/"text"/"near-identical text")} for stored duplicates."""
    found: dict[int, tuple[int, str]] = {}
    urls = {c.url_hash for c in candidates if c.url_hash}
    by_url = dict(Document.objects.filter(url_hash__in=urls).values_list("url_hash", "pk")) if urls else {}
    hashes = {c.fingerprint.content_hash for c in candidates}
    by_text = dict(Document.objects.filter(content_hash__in=hashes).values_list("content_hash", "pk"))
    since = now - timedelta(days=settings.FINANCE_NEAR_DUPLICATE_DAYS)
    keys = {key for c in candidates for key in c.fingerprint.bands}
    near_ids = set(DocumentBand.objects.filter(key__in=keys, document__ingested_at__gte=since)
                   .values_list("document_id", flat=True)) if keys else set()
    near_rows = Document.objects.filter(pk__in=near_ids).values_list("pk", "minhash", "numbers_hash")
    near = [(pk, bytes(signature), numbers) for pk, signature, numbers in near_rows]
    for position, c in enumerate(candidates):
        if c.url_hash and c.url_hash in by_url:
            found[position] = (by_url[c.url_hash], "URL")
        elif c.fingerprint.content_hash in by_text:
            found[position] = (by_text[c.fingerprint.content_hash], "text")
        else:
            for pk, signature, numbers in near:
                if c.fingerprint.is_near(signature, numbers):
                    found[position] = (pk, "near-identical text")
                    break
    return found


def _document_row(c: _Candidate, *, batch: IngestBatch, feed: Feed | None, default_source: str,
                  now: datetime) -> Document:
    item, fp = c.item, c.fingerprint
    return Document(
        batch=batch, feed=feed, source=item.source or default_source, url=item.url, url_hash=c.url_hash,
        title=item.title, text=item.text, language=item.language, published_at=item.published_at or now,
        content_hash=fp.content_hash, minhash=fp.signature_bytes, numbers_hash=fp.numbers_hash,
    )


def documents_ingest(
    *, items: Iterable[Any], origin: str, label: str = "", submitted_by=None, api_key: ApiKey | None = None,
    feed: Feed | None = None, default_source: str = "", evaluate_alerts: bool = True,
    rejections: list[Rejection] | None = None, wheres: list[str] | None = None, score_now: bool = True,
) -> IngestResult:
    """Validate, deduplicate and store a batch; start its scoring job when anything was accepted
    (unless `score_now` is false: then beat's score_pending sweep scores them once a model is active).

    `rejections` carries problems found before this call (unreadable upload rows...); `wheres`
    gives each item a human location ("row 7"), in the order of `items`.
    """
    items = list(items)
    limit = settings.FINANCE_MAX_BATCH_ITEMS
    if len(items) > limit:
        raise IngestError(f"the batch has {len(items):,} documents; send at most {limit:,} per request")
    now = timezone.now()
    rejected: list[Rejection] = list(rejections or [])
    valid: list[DocumentInput] = []
    for index, raw in enumerate(items):
        where = wheres[index] if wheres else ""
        try:
            valid.append(validate_item(raw, index=index, now=now, where=where))
        except _FieldError as exc:
            reason = exc.reason if exc.field == "row" else f"{exc.field} {exc.reason}"
            rejected.append(Rejection(index, exc.field, reason, where=where))

    # Duplicates inside the batch: the first copy wins.
    candidates: list[_Candidate] = []
    seen_urls: dict[str, int] = {}
    seen_text: dict[str, int] = {}
    seen_bands: dict[int, list[_Candidate]] = {}
    for item in valid:
        c = _Candidate(item, url_hash(item.url), fingerprint(item.text))
        earlier = None
        if c.url_hash and c.url_hash in seen_urls:
            earlier, what = seen_urls[c.url_hash], "URL"
        elif c.fingerprint.content_hash in seen_text:
            earlier, what = seen_text[c.fingerprint.content_hash], "text"
        else:
            nearby = (o for key in c.fingerprint.bands for o in seen_bands.get(key, ()))
            match = next((o for o in nearby if o.fingerprint.is_near(c.fingerprint.signature,
                                                                     c.fingerprint.numbers_hash)), None)
            if match is not None:
                earlier, what = match.item.index, "near-identical text"
        if earlier is not None:
            rejected.append(Rejection(item.index, "url" if what == "URL" else "text",
                                      f"duplicate: same {what} as item {earlier} of this batch", where=item.where))
            continue
        if c.url_hash:
            seen_urls[c.url_hash] = item.index
        seen_text[c.fingerprint.content_hash] = item.index
        for key in c.fingerprint.bands:
            seen_bands.setdefault(key, []).append(c)
        candidates.append(c)

    with transaction.atomic():
        stored_copies = _find_stored_duplicates(candidates, now=now)
        fresh = []
        for position, c in enumerate(candidates):
            if position in stored_copies:
                pk, what = stored_copies[position]
                rejected.append(Rejection(c.item.index, "url" if what == "URL" else "text",
                                          f"duplicate: same {what} as document {pk}", duplicate_of=pk,
                                          where=c.item.where))
            else:
                fresh.append(c)
        batch = IngestBatch.objects.create(
            origin=origin, label=label[:300], feed=feed, api_key=api_key,
            submitted_by=submitted_by if (submitted_by and submitted_by.is_authenticated) else None,
            received=len(items) + len(rejections or []), evaluate_alerts=evaluate_alerts,
        )
        stored = _insert(fresh, batch=batch, feed=feed, default_source=default_source, now=now, rejected=rejected)
        DocumentBand.objects.bulk_create([DocumentBand(document=document, key=key)
                                          for c, document in stored for key in c.fingerprint.bands], batch_size=2000)
        _link_given_tickers(stored)
        documents = [document for _, document in stored]
        duplicates = sum(1 for r in rejected if r.reason.startswith("duplicate"))
        rejected.sort(key=lambda r: r.index)
        batch.accepted = len(documents)
        batch.rejected = len(rejected)
        batch.duplicates = duplicates
        batch.rejections = [r.to_dict() for r in rejected]
        if documents and score_now:
            job = job_create(kind=SCORE_BATCH, title=f"Score {len(documents)} documents ({batch.get_origin_display().lower()})",
                             params={"batch": batch.pk}, scenario=SENTIMENT_SCENARIO,
                             created_by=submitted_by)
            batch.job = job
            job_enqueue(job=job, task=SCORE_BATCH)
        batch.save(update_fields=["accepted", "rejected", "duplicates", "rejections", "job"])
        if feed is not None and documents:
            Feed.objects.filter(pk=feed.pk).update(documents_added=F("documents_added") + len(documents))
    log.info("batch %s (%s): %d accepted, %d rejected (%d duplicates)", batch.pk, origin, len(documents),
             len(rejected), duplicates)
    return IngestResult(batch=batch, document_ids=[d.pk for d in documents], rejections=rejected)


def _insert(fresh: list[_Candidate], *, batch, feed, default_source, now,
            rejected: list[Rejection]) -> list[tuple[_Candidate, Document]]:
    """Insert in bulk; if another batch stored a copy meanwhile, insert one by one to find it."""
    rows = [_document_row(c, batch=batch, feed=feed, default_source=default_source, now=now) for c in fresh]
    if not rows:
        return []
    try:
        with transaction.atomic():
            return list(zip(fresh, Document.objects.bulk_create(rows, batch_size=500)))
    except IntegrityError:
        pass
    stored = []
    for c, row in zip(fresh, rows):
        row.pk = None
        try:
            with transaction.atomic():
                row.save(force_insert=True)
            stored.append((c, row))
        except IntegrityError:
            other = Document.objects.filter(
                Q(content_hash=c.fingerprint.content_hash) | (Q(url_hash=c.url_hash) if c.url_hash else Q(pk=None))
            ).values_list("pk", flat=True).first()
            rejected.append(Rejection(c.item.index, "text", f"duplicate: stored by another batch as document {other}",
                                      duplicate_of=other, where=c.item.where))
    return stored


def _link_given_tickers(stored: list[tuple[_Candidate, Document]]) -> None:
    """Tickers the sender named: linked at once (symbols not on the watchlist are created off it)."""
    symbols = {symbol for c, _ in stored for symbol in c.item.tickers}
    if not symbols:
        return
    Ticker.objects.bulk_create([Ticker(symbol=s, on_watchlist=False) for s in sorted(symbols)], ignore_conflicts=True)
    by_symbol = dict(Ticker.objects.filter(symbol__in=symbols).values_list("symbol", "pk"))
    DocumentTicker.objects.bulk_create([
        DocumentTicker(document=document, ticker_id=by_symbol[symbol], given=True)
        for c, document in stored for symbol in c.item.tickers
    ], ignore_conflicts=True)
