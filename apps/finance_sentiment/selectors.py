"""Reads for finance sentiment: documents with filters, trends, alerts, overview figures."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.core.models import ModelVersion
from apps.core.selectors import active_model_version, model_problems
from apps.core.validation import is_ascii_integer
from ml_core.timeseries import GRANULARITIES

from .models import (
    SENTIMENT_LABELS,
    Alert,
    AlertDelivery,
    AlertRule,
    Document,
    DocumentTicker,
    DocumentTopic,
    Feed,
    IngestBatch,
    LabelledSet,
    SentimentScore,
    Ticker,
    Topic,
)
from .services.trends import ALL, trend_points

MAX_TREND_BUCKETS = 5000
DEFAULT_SPAN = {"hour": timedelta(days=7), "day": timedelta(days=90)}


class FilterError(ValueError):
    """A query parameter has a value that cannot be used; the message names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


def parse_moment(value: str | None, parameter: str, *, end_of_day: bool = False) -> datetime | None:
    if not value:
        return None
    moment = None
    day = None
    try:
        # A bare date first: Python's fromisoformat (behind parse_datetime) would read it as midnight.
        day = parse_date(value)
        if day is None:
            moment = parse_datetime(value)
    except ValueError:
        pass
    if day is not None:
        moment = datetime(day.year, day.month, day.day) + (timedelta(days=1) if end_of_day else timedelta())
    elif moment is None:
        raise FilterError(parameter, f"{value!r} is not an ISO 8601 date or date-time")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def topic_from(value: str | None) -> Topic | None:
    if not value:
        return None
    topic = Topic.objects.filter(pk=int(value)).first() if is_ascii_integer(value) else Topic.objects.filter(
        Q(slug=value) | Q(name__iexact=value)).first()
    if topic is None:
        raise FilterError("topic", f"no topic {value!r}")
    return topic


def ticker_from(value: str | None) -> Ticker | None:
    if not value:
        return None
    ticker = Ticker.objects.filter(symbol=value.strip().lstrip("$").upper()).first()
    if ticker is None:
        raise FilterError("ticker", f"no ticker {value!r}")
    return ticker


@dataclass
class DocumentFilters:
    topic: Topic | None = None
    ticker: Ticker | None = None
    sentiment: str = ""
    source: str = ""
    q: str = ""
    start: datetime | None = None
    end: datetime | None = None
    status: str = ""
    batch: int | None = None

    @classmethod
    def from_params(cls, params) -> DocumentFilters:
        sentiment = (params.get("sentiment") or "").strip().lower()
        if sentiment and sentiment not in SENTIMENT_LABELS:
            raise FilterError("sentiment", f"{sentiment!r} is not one of {', '.join(SENTIMENT_LABELS)}")
        status = (params.get("status") or "").strip().lower()
        if status and status not in Document.Status.values:
            raise FilterError("status", f"{status!r} is not one of {', '.join(Document.Status.values)}")
        batch = params.get("batch") or None
        if batch is not None and not is_ascii_integer(batch):
            raise FilterError("batch", f"{str(batch)[:40]!r} is not a batch id (a whole number, digits 0-9)")
        return cls(topic=topic_from(params.get("topic")), ticker=ticker_from(params.get("ticker")),
                   sentiment=sentiment, source=(params.get("source") or "").strip(), q=(params.get("q") or "").strip(),
                   start=parse_moment(params.get("from"), "from"),
                   end=parse_moment(params.get("to"), "to", end_of_day=True), status=status,
                   batch=int(batch) if batch else None)


def document_list(*, filters: DocumentFilters | None = None, scored_only: bool = False) -> QuerySet[Document]:
    """The documents the filters select, newest first; `scored_only`: only those scored (whatever
    status the filters ask for)."""
    filters = filters or DocumentFilters()
    documents = Document.objects.select_related("sentiment_version").prefetch_related(
        Prefetch("topic_links", queryset=DocumentTopic.objects.select_related("topic").order_by("-is_primary",
                                                                                                  "-similarity")),
        Prefetch("ticker_links", queryset=DocumentTicker.objects.select_related("ticker")),
    )
    if filters.topic is not None:
        documents = documents.filter(topic_links__topic=filters.topic)
    if filters.ticker is not None:
        documents = documents.filter(ticker_links__ticker=filters.ticker)
    if filters.sentiment:
        documents = documents.filter(sentiment=filters.sentiment)
    if filters.source:
        documents = documents.filter(source__iexact=filters.source)
    if filters.q:
        documents = documents.filter(Q(title__icontains=filters.q) | Q(text__icontains=filters.q))
    if filters.start:
        documents = documents.filter(published_at__gte=filters.start)
    if filters.end:
        documents = documents.filter(published_at__lt=filters.end)
    if filters.status:
        documents = documents.filter(status=filters.status)
    if filters.batch:
        documents = documents.filter(batch_id=filters.batch)
    if scored_only:
        documents = documents.filter(status=Document.Status.SCORED)
    return documents.order_by("-published_at", "-id")


def document_get(*, pk: int) -> Document:
    return document_list().get(pk=pk)


def document_score_list(*, document: Document, limit: int = 20) -> QuerySet[SentimentScore]:
    """The document's scores, newest first, each with the version that gave it."""
    return document.scores.select_related("model_version").order_by("-created_at")[:limit]


def document_alert_list(*, document: Document, limit: int = 10) -> QuerySet[Alert]:
    return document.alerts.select_related("topic").order_by("-opened_at")[:limit]


def labelled_document_count() -> int:
    """Documents an operator labelled (training data for the next versions)."""
    return Document.objects.exclude(label="").count()


# --- topics, rules, watchlist, feeds, labelled sets ------------------------------------------------
def topic_get(*, pk: int, active_only: bool = False) -> Topic | None:
    topics = Topic.objects.filter(is_active=True) if active_only else Topic.objects.all()
    return topics.filter(pk=pk).first()


def topic_choices() -> QuerySet[Topic]:
    """The active topics, for the filters' choices."""
    return Topic.objects.filter(is_active=True)


def topic_list() -> QuerySet[Topic]:
    """Every topic with its number of documents, by name."""
    return Topic.objects.annotate(n_documents=Count("document_links")).order_by("name")


def watchlist_tickers() -> QuerySet[Ticker]:
    return Ticker.objects.filter(on_watchlist=True)


def ticker_list() -> QuerySet[Ticker]:
    """Every ticker with its number of documents, the watchlist's first."""
    return Ticker.objects.annotate(n_documents=Count("document_links")).order_by("-on_watchlist", "symbol")


def ticker_get(*, pk: int) -> Ticker | None:
    return Ticker.objects.filter(pk=pk).first()


def rule_list() -> QuerySet[AlertRule]:
    """Every alert rule with its topic and number of alerts."""
    return AlertRule.objects.select_related("topic").annotate(n_alerts=Count("alerts"))


def rule_get(*, pk: int) -> AlertRule | None:
    return AlertRule.objects.filter(pk=pk).first()


def feed_list() -> QuerySet[Feed]:
    return Feed.objects.order_by("name")


def feed_get(*, pk: int) -> Feed | None:
    return Feed.objects.filter(pk=pk).first()


def labelled_set_list() -> QuerySet[LabelledSet]:
    return LabelledSet.objects.select_related("uploaded_by")


def labelled_set_get(*, pk: int) -> LabelledSet | None:
    return LabelledSet.objects.filter(pk=pk).first()


@dataclass
class TrendQuery:
    series: str
    label: str
    granularity: str
    start: datetime
    end: datetime
    topic: Topic | None = None
    ticker: Ticker | None = None

    @classmethod
    def from_params(cls, params) -> TrendQuery:
        granularity = (params.get("bucket") or "hour").strip().lower()
        if granularity not in GRANULARITIES:
            raise FilterError("bucket", f"{granularity!r} is not hour or day")
        topic, ticker = topic_from(params.get("topic")), ticker_from(params.get("ticker"))
        if topic and ticker:
            raise FilterError("ticker", "give a topic or a ticker, not both")
        end = parse_moment(params.get("to"), "to", end_of_day=True) or timezone.now() + GRANULARITIES[granularity]
        start = parse_moment(params.get("from"), "from") or end - DEFAULT_SPAN[granularity]
        if start >= end:
            raise FilterError("from", "must be before to")
        if (end - start) / GRANULARITIES[granularity] > MAX_TREND_BUCKETS:
            raise FilterError("from", f"the range spans more than {MAX_TREND_BUCKETS} {granularity}s; "
                                      "narrow it or use bucket=day")
        if topic:
            return cls(topic.series, topic.name, granularity, start, end, topic=topic)
        if ticker:
            return cls(ticker.series, ticker.symbol, granularity, start, end, ticker=ticker)
        return cls(ALL, "All documents", granularity, start, end)

    def points(self) -> list[dict]:
        return trend_points(series=self.series, granularity=self.granularity, start=self.start, end=self.end)


def topic_chart_series(*, granularity: str, start: datetime, end: datetime,
                       topic: Topic | None = None) -> list[dict]:
    """All documents' points plus every active topic's (or just `topic`'s), for the dashboard's
    charts; each series keyed by its stable name ("all", "topic:<id>"), which picks its colour."""
    topics = [topic] if topic is not None else Topic.objects.filter(is_active=True).order_by("name")
    series = [{"key": ALL, "label": "All documents"}] + [{"key": t.series, "label": t.name} for t in topics]
    for entry in series:
        entry["points"] = trend_points(series=entry["key"], granularity=granularity, start=start, end=end)
    return series


def alert_list(*, state: str | None = None, acknowledged: bool | None = None, topic: Topic | None = None,
               limit: int | None = None) -> QuerySet[Alert]:
    alerts = Alert.objects.select_related("rule", "topic", "acknowledged_by").annotate(
        n_documents=Count("documents", distinct=True))
    if state:
        alerts = alerts.filter(state=state)
    if acknowledged is not None:
        alerts = alerts.filter(acknowledged_at__isnull=not acknowledged)
    if topic is not None:
        alerts = alerts.filter(topic=topic)
    alerts = alerts.order_by("acknowledged_at", "-opened_at") if acknowledged is None else alerts.order_by("-opened_at")
    return alerts[:limit] if limit else alerts


def alert_get(*, pk: int) -> Alert:
    return Alert.objects.select_related("rule", "topic", "acknowledged_by").prefetch_related(
        Prefetch("documents", queryset=Document.objects.order_by("-p_negative")),
        Prefetch("deliveries", queryset=AlertDelivery.objects.order_by("created_at")),
    ).get(pk=pk)


def unacknowledged_alert_count() -> int:
    return Alert.objects.filter(acknowledged_at__isnull=True).count()


def overview() -> dict:
    """The dashboard's figures. "Last 24 h" is by publication time, as the charts' buckets are."""
    day_ago = timezone.now() - timedelta(days=1)
    # The day's figures read the published_at index, not every document.
    counts = Document.objects.filter(published_at__gte=day_ago).aggregate(
        last_day=Count("pk"), scored_last_day=Count("pk", filter=Q(status=Document.Status.SCORED)),
        negative_last_day=Count("pk", filter=Q(sentiment="negative")),
    )
    counts["total"] = Document.objects.count()
    counts["pending"] = Document.objects.filter(status=Document.Status.PENDING).count()
    counts["negative_share_last_day"] = (counts["negative_last_day"] / counts["scored_last_day"]
                                         if counts["scored_last_day"] else None)
    return {**counts, "open_alerts": Alert.objects.filter(state=Alert.State.OPEN).count(),
            "unacknowledged": unacknowledged_alert_count(),
            "feeds_failing": Feed.objects.filter(is_active=True, status=Feed.Status.ERROR).count(),
            "topics": Topic.objects.filter(is_active=True).count()}


def batch_list(*, limit: int = 20) -> QuerySet[IngestBatch]:
    return IngestBatch.objects.select_related("job", "feed", "submitted_by", "api_key").order_by("-created_at")[:limit]


def batch_get(*, pk: int) -> IngestBatch | None:
    return IngestBatch.objects.select_related("job", "feed", "submitted_by", "api_key").filter(pk=pk).first()


def batch_scored_count(*, batch: IngestBatch) -> int:
    return batch.documents.filter(status=Document.Status.SCORED).count()


def sources() -> list[str]:
    return list(Document.objects.order_by().values_list("source", flat=True).distinct()[:200])


def sentiment_model_status() -> tuple[ModelVersion | None, str]:
    """The active sentiment version and what keeps it from serving ("" when nothing does), read
    from the registry's rows and files. No model is loaded: the workers score, and loading one in
    the web process just to name its version made the dashboard's first load take 11 s and more."""
    from .scenario import SENTIMENT_SCENARIO

    active = active_model_version(scenario=SENTIMENT_SCENARIO)
    return active, " ".join(model_problems(scenario=SENTIMENT_SCENARIO, active=active))
