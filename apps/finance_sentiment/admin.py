"""Back office for finance sentiment: browse documents and batches; manage topics, rules, feeds."""
from django.contrib import admin
from django.db import models

from apps.core.parsers import BOUNDED_JSON_FORMFIELDS

from .forms import WebhookTargetForm
from .models import (
    Alert,
    AlertDelivery,
    AlertRule,
    Document,
    Feed,
    IngestBatch,
    LabelledSet,
    SentimentScore,
    Ticker,
    Topic,
)
from .services.alerts import alert_acknowledge


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    formfield_overrides = BOUNDED_JSON_FORMFIELDS  # JSON too deep is a form error, not a 500
    list_display = ("name", "slug", "threshold", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "description")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Ticker)
class TickerAdmin(admin.ModelAdmin):
    formfield_overrides = BOUNDED_JSON_FORMFIELDS  # JSON too deep is a form error, not a 500
    list_display = ("symbol", "name", "on_watchlist", "match_symbol")
    list_filter = ("on_watchlist",)
    search_fields = ("symbol", "name")


@admin.register(Feed)
class FeedAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # as the console's feed form
    list_display = ("name", "url", "status", "consecutive_failures", "last_polled_at", "next_poll_at", "is_active")
    list_filter = ("status", "is_active")
    readonly_fields = ("etag", "last_modified", "last_error", "last_http_status", "consecutive_failures",
                       "last_polled_at", "last_success_at", "documents_added")


class SentimentScoreInline(admin.TabularInline):
    model = SentimentScore
    extra = 0
    can_delete = False
    readonly_fields = ("model_version", "label", "p_negative", "p_neutral", "p_positive", "score", "job", "created_at")
    fields = readonly_fields


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("__str__", "source", "published_at", "status", "sentiment", "score", "sentiment_version")
    list_filter = ("status", "sentiment", "source")
    search_fields = ("title", "text", "url")
    date_hierarchy = "published_at"
    exclude = ("minhash",)
    readonly_fields = ("batch", "feed", "url_hash", "content_hash", "numbers_hash", "status", "sentiment", "p_negative",
                       "p_neutral", "p_positive", "score", "sentiment_version", "scored_at", "ingested_at")
    inlines = [SentimentScoreInline]


@admin.register(IngestBatch)
class IngestBatchAdmin(admin.ModelAdmin):
    list_display = ("pk", "origin", "label", "received", "accepted", "rejected", "duplicates", "created_at")
    list_filter = ("origin",)
    readonly_fields = [f.name for f in IngestBatch._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # batches come from uploads, the API and feeds, never from an empty form


class AlertRuleAdminForm(WebhookTargetForm):
    class Meta:
        model = AlertRule
        fields = "__all__"


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    # The webhook secret is write-only here too; feed and webhook URLs are checked against the
    # outbound policy by the models' validators (apps.core.outbound_http).
    form = AlertRuleAdminForm
    list_display = ("name", "topic", "metric", "granularity", "baseline", "z_threshold", "min_volume", "is_active")
    list_filter = ("metric", "granularity", "is_active")


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    readonly_fields = ("channel", "target", "state", "attempts", "next_attempt_at", "last_error", "delivered_at")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # deliveries follow the alert's rule


@admin.action(description="Acknowledge the selected alerts")
def acknowledge_alerts(modeladmin, request, queryset) -> None:
    for alert in queryset.filter(acknowledged_at__isnull=True):
        alert_acknowledge(alert=alert, user=request.user)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("message", "state", "opened_at", "acknowledged_at", "acknowledged_by")
    list_filter = ("state", "rule")
    readonly_fields = ("rule", "topic", "series", "metric", "granularity", "window_start", "window_end", "observed",
                       "expected", "sigma", "z", "volume", "negative", "peak_observed", "message", "state", "opened_at",
                       "last_seen_at", "resolved_at", "acknowledged_at", "acknowledged_by")
    exclude = ("documents",)
    inlines = [AlertDeliveryInline]
    actions = [acknowledge_alerts]

    def has_add_permission(self, request) -> bool:
        return False  # alerts are raised by the rules on the trends, never typed in


@admin.register(LabelledSet)
class LabelledSetAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "size", "uploaded_by", "created_at")
    readonly_fields = ("file_name", "size", "label_counts", "notes", "uploaded_by", "created_at")
