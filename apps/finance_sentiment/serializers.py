"""What the finance API sends and (for the schema) what it accepts."""
from __future__ import annotations

from rest_framework import serializers

from .models import Alert, Document, IngestBatch, Topic


class DocumentInSerializer(serializers.Serializer):
    """One document of a batch. Only `text` is required; items are checked one by one."""

    text = serializers.CharField(help_text="The document's text (at most FINANCE_MAX_TEXT_CHARS characters)")
    title = serializers.CharField(required=False, max_length=500)
    source = serializers.CharField(required=False, max_length=200, help_text="Publisher or channel, e.g. Reuters")
    url = serializers.URLField(required=False, max_length=2000, help_text="Used to drop duplicates")
    published_at = serializers.DateTimeField(required=False, help_text="ISO 8601; naive times are UTC; default: now")
    language = serializers.CharField(required=False, max_length=16, help_text="e.g. en, pt-BR")
    tickers = serializers.ListField(child=serializers.CharField(max_length=12), required=False, max_length=20)


class BatchInSerializer(serializers.Serializer):
    documents = DocumentInSerializer(many=True)
    source = serializers.CharField(required=False, max_length=200, help_text="Default source of the items")
    evaluate_alerts = serializers.BooleanField(required=False, default=True,
                                               help_text="false for back-fills of history")


class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in `documents` (0-based)")
    field = serializers.CharField()
    reason = serializers.CharField()
    duplicate_of = serializers.IntegerField(required=False)


class BatchResultSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    job = serializers.UUIDField(allow_null=True, help_text="The job that scores the accepted documents")
    received = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    documents = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of the accepted documents")
    rejections = RejectionSerializer(many=True)


class BatchSerializer(serializers.ModelSerializer):
    job_state = serializers.CharField(source="job.state", default=None, read_only=True)
    job_progress = serializers.FloatField(source="job.progress", default=None, read_only=True)
    scored = serializers.SerializerMethodField()

    class Meta:
        model = IngestBatch
        fields = ["id", "origin", "label", "received", "accepted", "rejected", "duplicates", "rejections",
                  "job", "job_state", "job_progress", "scored", "created_at"]

    def get_scored(self, batch) -> int:
        return batch.documents.filter(status=Document.Status.SCORED).count()


class TopicLinkSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="topic_id")
    name = serializers.CharField(source="topic.name")
    similarity = serializers.FloatField()
    method = serializers.CharField()
    primary = serializers.BooleanField(source="is_primary")


class SentimentSerializer(serializers.Serializer):
    label = serializers.CharField(source="sentiment")
    score = serializers.FloatField(help_text="P(positive) - P(negative)")
    p_negative = serializers.FloatField()
    p_neutral = serializers.FloatField()
    p_positive = serializers.FloatField()
    model_version = serializers.IntegerField(source="sentiment_version.version", default=None)
    model_version_id = serializers.IntegerField(source="sentiment_version_id")
    scored_at = serializers.DateTimeField()


class DocumentSerializer(serializers.ModelSerializer):
    sentiment = serializers.SerializerMethodField()
    topics = TopicLinkSerializer(source="topic_links", many=True, read_only=True)
    tickers = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = ["id", "title", "text", "source", "url", "language", "published_at", "ingested_at", "status",
                  "sentiment", "topics", "tickers", "batch"]

    def get_sentiment(self, document) -> dict | None:
        if document.status != Document.Status.SCORED:
            return None
        return SentimentSerializer(document).data

    def get_tickers(self, document) -> list[str]:
        return [link.ticker.symbol for link in document.ticker_links.all()]


class TrendPointSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    volume = serializers.IntegerField()
    negative = serializers.IntegerField()
    neutral = serializers.IntegerField()
    positive = serializers.IntegerField()
    mean_score = serializers.FloatField(allow_null=True)
    negative_share = serializers.FloatField(allow_null=True)


class TrendSerializer(serializers.Serializer):
    series = serializers.CharField(help_text="all, topic:<id> or ticker:<id>")
    label = serializers.CharField()
    bucket = serializers.CharField(source="granularity")
    start = serializers.DateTimeField(source="from")
    end = serializers.DateTimeField(source="to")
    points = TrendPointSerializer(many=True)


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule.name")
    rule_id = serializers.IntegerField()
    topic = serializers.CharField(source="topic.name", default=None, allow_null=True)
    acknowledged_by = serializers.CharField(source="acknowledged_by.get_username", default=None, allow_null=True)
    documents = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = ["id", "message", "rule", "rule_id", "topic", "series", "metric", "granularity", "window_start",
                  "window_end", "observed", "expected", "sigma", "z", "volume", "negative", "peak_observed", "state",
                  "opened_at", "last_seen_at", "resolved_at", "acknowledged_at", "acknowledged_by", "documents"]

    def get_documents(self, alert) -> list[int]:
        return [d.pk for d in alert.documents.all()]


class TopicSerializer(serializers.ModelSerializer):
    class Meta:
        model = Topic
        fields = ["id", "name", "slug", "description", "keywords", "examples", "threshold", "is_active"]
