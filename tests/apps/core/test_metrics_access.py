"""Who may read /metrics: the bearer token; loopback callers only where METRICS_ALLOW_LOOPBACK says so
(a reverse proxy on the same host makes every visitor a loopback caller)."""
import pytest

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-token"


def _status(client, remote_addr: str, authorization: str | None = None, **extra) -> int:
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    return client.get("/metrics", REMOTE_ADDR=remote_addr, **headers, **extra).status_code


def test_loopback_callers_need_the_token_by_default(client, settings):
    assert settings.METRICS_ALLOW_LOOPBACK is False
    settings.METRICS_TOKEN = ""
    for address in ("127.0.0.1", "::1", "10.1.2.3"):
        assert _status(client, address) == 403, address
    settings.METRICS_TOKEN = TOKEN
    assert _status(client, "127.0.0.1") == 403
    assert _status(client, "127.0.0.1", "Bearer wrong") == 403
    assert _status(client, "127.0.0.1", f"Bearer {TOKEN}") == 200


def test_the_token_opens_it_from_anywhere_and_odd_headers_are_refused(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert _status(client, "10.1.2.3", f"Bearer {TOKEN}") == 200
    assert _status(client, "10.1.2.3", TOKEN) == 200  # the bare token, as before
    for wrong in ("", "Bearer ", f"Bearer {TOKEN}x", "Bearer s3cret-tokén", "Basic czNjcmV0"):
        assert _status(client, "10.1.2.3", wrong) == 403, wrong


def test_the_setting_lets_loopback_callers_in(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_LOOPBACK = True
    assert _status(client, "127.0.0.1") == 200 and _status(client, "::1") == 200
    assert _status(client, "10.1.2.3") == 403


def test_behind_a_trusted_proxy_loopback_is_the_client_not_the_proxy(client, settings):
    """With TRUSTED_PROXY_COUNT=1 a same-host proxy connects from 127.0.0.1, but REMOTE_ADDR becomes
    the visitor named by the proxy's X-Forwarded-For entry: the loopback allowance does not reach them."""
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_LOOPBACK = True
    settings.TRUSTED_PROXY_COUNT = 1
    assert _status(client, "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9") == 403
    # A visitor forging "127.0.0.1" gets no further: the proxy appends the address it saw.
    assert _status(client, "127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.9") == 403
    assert _status(client, "127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1") == 200  # a scraper on the host
