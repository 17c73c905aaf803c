"""Finance sentiment monitoring: sources, documents and their scores, topics, trends, alerts."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.outbound_http import validate_outbound_url

SENTIMENT_LABELS = ("negative", "neutral", "positive")
GRANULARITY_CHOICES = [("hour", "Hour"), ("day", "Day")]


class Topic(models.Model):
    """A subject operators follow, defined by keywords and a few example sentences."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True,
                            help_text="The label the topic classifier learns (set from the name)")
    description = models.CharField(max_length=300, blank=True)
    keywords = models.JSONField(default=list, blank=True, help_text="Words or phrases; a literal match adds weight")
    examples = models.JSONField(default=list, blank=True, help_text="Example sentences that belong to the topic")
    threshold = models.FloatField(default=0.40, help_text="Minimum similarity (0-1) for a document to be assigned")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gte=0) & Q(threshold__lte=1), name="topic_threshold_0_1"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def series(self) -> str:
        return f"topic:{self.pk}"


class Ticker(models.Model):
    """A company on the watchlist (or a symbol a client tagged a document with)."""

    symbol = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=200, blank=True, help_text="Company name, matched in the text")
    aliases = models.JSONField(default=list, blank=True, help_text="Other names matched in the text")
    match_symbol = models.BooleanField(
        default=True, help_text="Also match the bare upper-case symbol (turn off for symbols that are common words)"
    )
    on_watchlist = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return self.symbol

    @property
    def series(self) -> str:
        return f"ticker:{self.pk}"


class Feed(models.Model):
    """An RSS/Atom feed polled on a schedule, with conditional GET and back-off on errors."""

    class Status(models.TextChoices):
        NEW = "new", "Not polled yet"
        OK = "ok", "OK"
        ERROR = "error", "Error"

    name = models.CharField(max_length=200)
    # Checked against the outbound policy at save time too (and again at every poll).
    url = models.URLField(max_length=1000, unique=True, validators=[validate_outbound_url])
    is_active = models.BooleanField(default=True)
    poll_interval_s = models.PositiveIntegerField(default=900)
    etag = models.CharField(max_length=300, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.NEW)
    last_error = models.TextField(blank=True)
    last_http_status = models.PositiveIntegerField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)
    documents_added = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IngestBatch(models.Model):
    """One delivery of documents (API call, file upload, feed poll) and what became of each item."""

    class Origin(models.TextChoices):
        API = "api", "API"
        UPLOAD = "upload", "File upload"
        FEED = "feed", "Feed"
        DEMO = "demo", "Demo"

    origin = models.CharField(max_length=8, choices=Origin.choices)
    label = models.CharField(max_length=300, blank=True, help_text="File name, feed name or API key name")
    feed = models.ForeignKey(Feed, null=True, blank=True, on_delete=models.SET_NULL, related_name="batches")
    # Keys live in core (shared with the recommendation API); a finance key has the "finance" scope.
    api_key = models.ForeignKey("core.ApiKey", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="ingest_batches")
    job = models.ForeignKey("core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    received = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    # [{"index": 3, "field": "published_at", "reason": "...", "duplicate_of": 17?}, ...]
    rejections = models.JSONField(default=list, blank=True)
    evaluate_alerts = models.BooleanField(default=True, help_text="Off for back-fills of history")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "ingest batches"

    def __str__(self) -> str:
        return f"{self.get_origin_display()} batch {self.pk} ({self.accepted}/{self.received} accepted)"


class Document(models.Model):
    """A news item, report or post, with its current sentiment and the model version behind it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be scored"
        SCORED = "scored", "Scored"

    batch = models.ForeignKey(IngestBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents")
    feed = models.ForeignKey(Feed, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents")
    source = models.CharField(max_length=200, blank=True, db_index=True)
    url = models.CharField(max_length=2000, blank=True)
    url_hash = models.CharField(max_length=64, blank=True, help_text="sha256 of the normalised URL")
    title = models.CharField(max_length=500, blank=True)
    text = models.TextField()
    language = models.CharField(max_length=16, blank=True)
    published_at = models.DateTimeField(db_index=True)
    ingested_at = models.DateTimeField(auto_now_add=True)
    # Deduplication: exact (normalised text) and near-identical (MinHash, see fingerprints.py).
    content_hash = models.CharField(max_length=64, unique=True)
    minhash = models.BinaryField(max_length=240, help_text="MinHash signature of the text's word pairs")
    numbers_hash = models.CharField(max_length=16, blank=True, help_text="The figures in the text")

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    sentiment = models.CharField(max_length=8, blank=True, db_index=True)
    p_negative = models.FloatField(null=True, blank=True)
    p_neutral = models.FloatField(null=True, blank=True)
    p_positive = models.FloatField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True, help_text="P(positive) - P(negative)")
    sentiment_version = models.ForeignKey("core.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+")
    scored_at = models.DateTimeField(null=True, blank=True)
    topics = models.ManyToManyField(Topic, through="DocumentTopic", related_name="documents")
    tickers = models.ManyToManyField(Ticker, through="DocumentTicker", related_name="documents")

    # What an operator says the right answers are (training data for the next versions).
    label = models.CharField(max_length=8, blank=True, help_text="Sentiment label given by an operator")
    topic_label = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    topic_labelled_none = models.BooleanField(default=False, help_text="An operator said: none of the topics")
    labelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    labelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["url_hash"], condition=~Q(url_hash=""), name="document_unique_url"),
        ]
        indexes = [models.Index(fields=["status", "ingested_at"], name="document_status_ingested")]

    def __str__(self) -> str:
        return self.title or self.text[:80]

    @property
    def display_title(self) -> str:
        return self.title or (self.text[:120] + ("…" if len(self.text) > 120 else ""))


class DocumentBand(models.Model):
    """One locality-sensitive-hashing band of a document's MinHash: candidates for near-duplicates."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="bands")
    key = models.BigIntegerField(db_index=True)


class DocumentTopic(models.Model):
    class Method(models.TextChoices):
        EMBEDDING = "embedding", "Embedding similarity"
        KEYWORD = "keyword", "Keyword and similarity"
        CLASSIFIER = "classifier", "Topic classifier"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="topic_links")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="document_links")
    similarity = models.FloatField()
    method = models.CharField(max_length=10, choices=Method.choices)
    is_primary = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "topic"], name="documenttopic_unique")]


class DocumentTicker(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="ticker_links")
    ticker = models.ForeignKey(Ticker, on_delete=models.CASCADE, related_name="document_links")
    given = models.BooleanField(default=False, help_text="Given by the sender rather than found in the text")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "ticker"], name="documentticker_unique")]


class SentimentScore(models.Model):
    """Every score a document has had, with the model version that produced it (rescoring history)."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="scores")
    model_version = models.ForeignKey("core.ModelVersion", null=True, on_delete=models.SET_NULL, related_name="+")
    label = models.CharField(max_length=8)
    p_negative = models.FloatField()
    p_neutral = models.FloatField()
    p_positive = models.FloatField()
    score = models.FloatField()
    job = models.ForeignKey("core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class TrendBucket(models.Model):
    """Incremental aggregate of one series (all / topic:<id> / ticker:<id>) in one time bucket."""

    series = models.CharField(max_length=40)
    granularity = models.CharField(max_length=4, choices=GRANULARITY_CHOICES)
    start = models.DateTimeField()
    volume = models.IntegerField(default=0)
    negative = models.IntegerField(default=0)
    neutral = models.IntegerField(default=0)
    positive = models.IntegerField(default=0)
    score_sum = models.FloatField(default=0.0)
    # Sum of the documents' calibrated p(negative): the count alert rules judge (issue 21).
    negative_expected = models.FloatField(default=0.0)

    class Meta:
        ordering = ["series", "granularity", "start"]
        constraints = [
            models.UniqueConstraint(fields=["series", "granularity", "start"], name="trendbucket_unique"),
        ]

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.volume if self.volume else None

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.volume if self.volume else None


class AlertRule(models.Model):
    """When to warn: a surge of the negative share (or volume) of a topic above its baseline."""

    class Metric(models.TextChoices):
        NEGATIVE_SHARE = "negative_share", "Share of negative documents"
        VOLUME = "volume", "Volume of documents"

    class BaselineMethod(models.TextChoices):
        EWMA = "ewma", "Exponentially weighted (EWMA)"
        ROLLING = "rolling", "Rolling mean and deviation"

    name = models.CharField(max_length=100)
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.CASCADE, related_name="rules",
                              help_text="Empty: every topic, each on its own")
    metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.NEGATIVE_SHARE)
    granularity = models.CharField(max_length=4, choices=GRANULARITY_CHOICES, default="hour")
    baseline = models.CharField(max_length=8, choices=BaselineMethod.choices, default=BaselineMethod.EWMA)
    window = models.PositiveIntegerField(default=48, help_text="Buckets in the rolling window, or the EWMA span")
    z_threshold = models.FloatField(default=3.0)
    min_volume = models.PositiveIntegerField(default=10, help_text="Documents needed in the bucket")
    min_increase = models.FloatField(
        default=0.15, help_text="Share points (0.15 = 15 points) or documents above the expected value"
    )
    min_history = models.PositiveIntegerField(default=6, help_text="Buckets of history needed first")
    email_recipients = models.TextField(blank=True, help_text="Comma-separated e-mail addresses")
    webhook_url = models.URLField(max_length=1000, blank=True, validators=[validate_outbound_url])
    webhook_secret = models.CharField(max_length=200, blank=True,
                                      help_text="Signs the body: X-Signature-SHA256 = HMAC-SHA256(secret, body)")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in self.email_recipients.replace(";", ",").split(",") if a.strip()]


class Alert(models.Model):
    """One surge: open while the condition lasts, then resolved; acknowledged by an operator."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    series = models.CharField(max_length=40)
    metric = models.CharField(max_length=16)
    granularity = models.CharField(max_length=4, choices=GRANULARITY_CHOICES)
    window_start = models.DateTimeField(help_text="Start of the first bucket in which the condition held")
    window_end = models.DateTimeField(help_text="End of the latest bucket in which it held")
    observed = models.FloatField()
    expected = models.FloatField()
    sigma = models.FloatField()
    z = models.FloatField()
    volume = models.PositiveIntegerField()
    negative = models.PositiveIntegerField()
    peak_observed = models.FloatField()
    message = models.CharField(max_length=500)
    documents = models.ManyToManyField(Document, blank=True, related_name="alerts",
                                       help_text="The documents that drove it")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN, db_index=True)
    opened_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # Deduplication: at most one open alert per rule and series while the condition lasts.
            models.UniqueConstraint(fields=["rule", "series"], condition=Q(state="open"),
                                    name="alert_one_open_per_rule_series"),
        ]

    def __str__(self) -> str:
        return self.message

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class AlertDelivery(models.Model):
    """Sending one alert to one channel, retried with back-off until it succeeds or gives up."""

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    target = models.CharField(max_length=1000)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "alert deliveries"


class LabelledSet(models.Model):
    """Labelled sentences an admin uploaded (Financial PhraseBank format, CSV or JSON Lines)."""

    class Role(models.TextChoices):
        TRAIN = "train", "Training"
        TEST = "test", "Evaluation only"

    name = models.CharField(max_length=200)
    file_name = models.CharField(max_length=300, blank=True)
    role = models.CharField(max_length=5, choices=Role.choices, default=Role.TRAIN)
    size = models.PositiveIntegerField(default=0)
    label_counts = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True, help_text="What loading did (duplicates dropped...)")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class LabelledExample(models.Model):
    labelled_set = models.ForeignKey(LabelledSet, on_delete=models.CASCADE, related_name="examples")
    text = models.TextField()
    label = models.CharField(max_length=8)

    class Meta:
        ordering = ["id"]
