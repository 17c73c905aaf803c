"""What operators configure: topics, alert rules, the watchlist, feeds; and their labels on documents.

Changes to rules and topic thresholds go to the audit trail.
"""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.core.services.audit import audit_record
from apps.core.validation import is_ascii_integer

from ..models import AlertRule, Document, Feed, Ticker, Topic
from ..scenario import SENTIMENT_SCENARIO as SCENARIO


def topic_save(*, form, user) -> Topic:
    before = Topic.objects.filter(pk=form.instance.pk).values("threshold", "keywords", "examples").first() \
        if form.instance.pk else None
    with transaction.atomic():
        topic = form.save()
        if before is None:
            audit_record(action="rule.change", target=f"topic {topic.name}", scenario=SCENARIO, actor=user,
                         details={"created": True, "threshold": topic.threshold})
        elif before["threshold"] != topic.threshold:
            audit_record(action="threshold.change", target=f"topic {topic.name}", scenario=SCENARIO, actor=user,
                         details={"threshold": [before["threshold"], topic.threshold]})
        elif before["keywords"] != topic.keywords or before["examples"] != topic.examples:
            audit_record(action="rule.change", target=f"topic {topic.name}", scenario=SCENARIO, actor=user,
                         details={"keywords": topic.keywords, "examples": len(topic.examples)})
    return topic


def _delete_audited(instance, *, target: str, user) -> None:
    with transaction.atomic():
        audit_record(action="rule.change", target=target, scenario=SCENARIO, actor=user, details={"deleted": True})
        instance.delete()


def topic_delete(*, topic: Topic, user) -> None:
    _delete_audited(topic, target=f"topic {topic.name}", user=user)


def rule_save(*, form, user) -> AlertRule:
    created = form.instance.pk is None
    with transaction.atomic():
        rule = form.save(commit=False)
        if created:
            rule.created_by = user if user and user.is_authenticated else None
        rule.save()
        audit_record(action="rule.change", target=f"alert rule {rule.name}", scenario=SCENARIO, actor=user,
                     details={"created": created, **{k: (str(v) if k == "topic" else v) for k, v in form.cleaned_data.items()
                                                     if k not in ("webhook_secret",)}})
    return rule


def rule_delete(*, rule: AlertRule, user) -> None:
    _delete_audited(rule, target=f"alert rule {rule.name}", user=user)


def feed_save(*, form, user) -> Feed:
    feed = form.save(commit=False)
    if feed.pk is None:
        feed.created_by = user if user and user.is_authenticated else None
    # A changed URL or a reactivated feed is polled at the next beat.
    feed.next_poll_at = None if ("url" in form.changed_data or "is_active" in form.changed_data) else feed.next_poll_at
    if "url" in form.changed_data:
        feed.etag, feed.last_modified, feed.consecutive_failures = "", "", 0
    feed.save()
    return feed


def feed_delete(*, feed: Feed) -> None:
    """The feed goes; the documents it brought stay."""
    feed.delete()


def ticker_save(*, form) -> Ticker:
    """Add or change a ticker from the watchlist's form (validated there)."""
    return form.save()


def ticker_delete(*, ticker: Ticker) -> None:
    ticker.delete()


def feed_poll_soon(*, feed: Feed) -> None:
    Feed.objects.filter(pk=feed.pk).update(next_poll_at=timezone.now())


def document_label(*, document: Document, label: str, topic: str, user) -> Document:
    """An operator's answer: sentiment label and topic ("none" = none of the topics; "" = unknown)."""
    document.label = label
    document.topic_label = Topic.objects.filter(pk=int(topic)).first() if is_ascii_integer(topic) else None
    document.topic_labelled_none = topic == "none"
    labelled = bool(label or topic)
    document.labelled_by = user if labelled else None
    document.labelled_at = timezone.now() if labelled else None
    document.save(update_fields=["label", "topic_label", "topic_labelled_none", "labelled_by", "labelled_at"])
    return document
