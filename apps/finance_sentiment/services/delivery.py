"""Delivering alerts by e-mail (Django's mail backend) and by webhook, with retries and back-off.

Each delivery is a row. An attempt first claims the row with one conditional UPDATE (pending and
due -> sending), so a retry sweep and a task never send the same attempt twice. A failure that
may pass (connection refused, timeout, HTTP 408/429/5xx, SMTP errors) is retried after
FINANCE_ALERT_RETRY_BASE_S x 2^(attempt - 1) seconds, up to FINANCE_ALERT_MAX_ATTEMPTS attempts;
other HTTP answers and a webhook address that is not allowed (apps.core.outbound_http: private,
loopback, link-local, reserved, unless allow-listed) are permanent failures. The beat task
`finance_sentiment.retry_alert_deliveries` sends what is due, and re-queues attempts whose worker
died mid-send.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from apps.core import outbound_http

from ..models import Alert, AlertDelivery

log = logging.getLogger(__name__)

STUCK_SENDING_AFTER = timedelta(minutes=10)


class DeliveryError(Exception):
    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


def alert_link(alert: Alert) -> str:
    return settings.FINANCE_SITE_URL.rstrip("/") + reverse("finance_sentiment:alert_detail", args=[alert.pk])


def alert_payload(alert: Alert) -> dict:
    documents = list(alert.documents.order_by("-p_negative").values("id", "title", "text", "url", "published_at",
                                                                    "p_negative", "score"))
    return {
        "event": "finance_sentiment.alert",
        "alert": {
            "id": alert.pk, "message": alert.message, "rule": alert.rule.name, "rule_id": alert.rule_id,
            "topic": alert.topic.name if alert.topic else None, "metric": alert.metric,
            "granularity": alert.granularity, "window_start": alert.window_start.isoformat(),
            "window_end": alert.window_end.isoformat(), "observed": round(alert.observed, 4),
            "expected": round(alert.expected, 4), "z": round(alert.z, 2), "volume": alert.volume,
            "negative": alert.negative, "opened_at": alert.opened_at.isoformat(), "url": alert_link(alert),
        },
        "documents": [
            {"id": d["id"], "title": d["title"] or d["text"][:200], "url": d["url"],
             "published_at": d["published_at"].isoformat(), "p_negative": round(d["p_negative"] or 0.0, 4),
             "score": round(d["score"] or 0.0, 4)}
            for d in documents
        ],
    }


def _send_webhook(delivery: AlertDelivery) -> int:
    body = json.dumps(alert_payload(delivery.alert), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "ai-suite-finance-alerts/1",
               "X-Alert-Id": str(delivery.alert_id), "X-Delivery-Attempt": str(delivery.attempts)}
    secret = delivery.alert.rule.webhook_secret
    if secret:
        headers["X-Signature-SHA256"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    try:
        # No redirects: a webhook answers itself; a 3xx is reported like any other non-2xx answer.
        response = outbound_http.request("POST", delivery.target, headers=headers, body=body,
                                         timeout_s=settings.FINANCE_WEBHOOK_TIMEOUT_S, max_redirects=0,
                                         read_body=False)
        response.raise_for_status()
    except outbound_http.OutboundHTTPError as exc:
        raise DeliveryError(str(exc), retryable=exc.retryable, status=exc.status) from None
    return response.status


def _send_email(delivery: AlertDelivery) -> None:
    alert = delivery.alert
    payload = alert_payload(alert)
    lines = [alert.message, "", f"Open it: {alert_link(alert)}", "", "Documents that drove it:"]
    for d in payload["documents"]:
        lines.append(f"- [{d['p_negative']:.0%} negative] {d['title'][:160]}{'  ' + d['url'] if d['url'] else ''}")
    message = EmailMessage(subject=f"[Finance alert] {alert.message[:150]}", body="\n".join(lines),
                           from_email=settings.DEFAULT_FROM_EMAIL,
                           to=[a.strip() for a in delivery.target.split(",") if a.strip()])
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # smtplib.SMTPException, socket errors, a refused recipient: worth a retry
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


def delivery_attempt(*, delivery_id: int) -> AlertDelivery | None:
    """Try one due delivery now; None when it is not due or someone else is sending it."""
    now = timezone.now()
    claimed = AlertDelivery.objects.filter(
        pk=delivery_id, state=AlertDelivery.State.PENDING, next_attempt_at__lte=now,
    ).update(state=AlertDelivery.State.SENDING, attempts=F("attempts") + 1, next_attempt_at=now)
    if not claimed:
        return None
    delivery = AlertDelivery.objects.select_related("alert", "alert__rule", "alert__topic").get(pk=delivery_id)
    try:
        status = _send_webhook(delivery) if delivery.channel == AlertDelivery.Channel.WEBHOOK else None
        if delivery.channel == AlertDelivery.Channel.EMAIL:
            _send_email(delivery)
    except DeliveryError as exc:
        give_up = not exc.retryable or delivery.attempts >= settings.FINANCE_ALERT_MAX_ATTEMPTS
        delay = settings.FINANCE_ALERT_RETRY_BASE_S * 2 ** (delivery.attempts - 1)
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            state=AlertDelivery.State.FAILED if give_up else AlertDelivery.State.PENDING,
            last_error=str(exc)[:2000], last_status=exc.status,
            next_attempt_at=now if give_up else now + timedelta(seconds=delay),
        )
        log.warning("alert %s %s delivery attempt %d failed%s: %s", delivery.alert_id, delivery.channel,
                    delivery.attempts, "; giving up" if give_up else f"; retrying in {delay:g} s", exc)
    else:
        AlertDelivery.objects.filter(pk=delivery.pk).update(state=AlertDelivery.State.SENT, delivered_at=timezone.now(),
                                                            last_status=status, last_error="")
        log.info("alert %s delivered by %s to %s", delivery.alert_id, delivery.channel, delivery.target)
    delivery.refresh_from_db()
    return delivery


def deliveries_due(*, now=None) -> list[int]:
    """Deliveries to attempt now; attempts stuck in `sending` (worker died) become due again."""
    now = now or timezone.now()
    AlertDelivery.objects.filter(state=AlertDelivery.State.SENDING, next_attempt_at__lt=now - STUCK_SENDING_AFTER).update(
        state=AlertDelivery.State.PENDING)
    return list(AlertDelivery.objects.filter(state=AlertDelivery.State.PENDING, next_attempt_at__lte=now)
                .order_by("next_attempt_at").values_list("pk", flat=True)[:200])
