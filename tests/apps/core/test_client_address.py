"""The client's address: the TCP peer unless TRUSTED_PROXY_COUNT proxies stand in front, then the
entry of X-Forwarded-For that the outermost trusted proxy wrote (anything left of it is the
client's own text)."""
import pytest
from django.test import RequestFactory
from django.urls import reverse

from apps.core.middleware import ClientAddressMiddleware, forwarded_client_address

PEER = "10.0.0.2"


@pytest.mark.parametrize("forwarded_for, trusted, expected", [
    ("203.0.113.9", 0, PEER),                      # exposed directly: the header is ignored
    ("203.0.113.9", 1, "203.0.113.9"),
    ("127.0.0.1, 203.0.113.9", 1, "203.0.113.9"),  # a forged first entry is skipped
    ("198.51.100.1, 203.0.113.9, 10.0.0.1", 2, "203.0.113.9"),
    ("203.0.113.9", 2, PEER),                      # fewer hops than proxies: not through them
    ("", 1, PEER),
    ("not-an-address", 1, PEER),
    ("2001:db8::1", 1, "2001:db8::1"),
    ("2001:DB8:0::1 ", 1, "2001:db8::1"),
    ("::ffff:203.0.113.9", 1, "203.0.113.9"),
])
def test_forwarded_client_address(forwarded_for, trusted, expected):
    assert forwarded_client_address(forwarded_for, PEER, trusted) == expected


def test_the_middleware_puts_the_client_in_remote_addr_only_behind_trusted_proxies(settings):
    seen = []
    middleware = ClientAddressMiddleware(lambda request: seen.append(request.META["REMOTE_ADDR"]))
    request = RequestFactory().get("/", REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    settings.TRUSTED_PROXY_COUNT = 0
    middleware(request)
    settings.TRUSTED_PROXY_COUNT = 1
    middleware(RequestFactory().get("/", REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9"))
    assert seen == [PEER, "203.0.113.9"]


@pytest.mark.django_db
def test_the_audit_trail_records_the_client_behind_a_proxy(settings, admin_client):
    from apps.core.models import AuditEvent
    from apps.core.services.audit import audit_record

    event = audit_record(action=AuditEvent.Action.DATA_EXPORT)
    settings.TRUSTED_PROXY_COUNT = 1
    response = admin_client.post(reverse("admin:core_auditevent_changelist"),
                                 {"action": "export_csv", "_selected_action": [event.pk]},
                                 REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response["Content-Type"] == "text/csv"
    export = AuditEvent.objects.filter(action=AuditEvent.Action.DATA_EXPORT).exclude(pk=event.pk).get()
    assert export.ip_address == "203.0.113.9"


def test_rate_limits_count_each_client_behind_the_proxy(settings):
    """django-ratelimit's "ip" key reads REMOTE_ADDR, which the middleware has resolved."""
    from django.core.cache import cache
    from django_ratelimit.core import get_usage

    cache.clear()
    settings.TRUSTED_PROXY_COUNT = 1
    counts = []
    middleware = ClientAddressMiddleware(lambda request: counts.append(
        get_usage(request, group="tests.client_address", key="ip", rate="100/h", increment=True)["count"]))
    for client in ("203.0.113.9", "203.0.113.9", "198.51.100.4"):
        middleware(RequestFactory().get("/", REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR=client))
    assert counts == [1, 2, 1]
