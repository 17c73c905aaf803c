"""Brute force on the sign-in pages (/login/ and /admin/login/): django-axes locks a username
after LOGIN_FAILURE_LIMIT failures from anywhere, and an address after as many failures for any
usernames; the lockout page says so (429), the audit trail records it, an admin unlocks."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.core.models import AuditEvent

pytestmark = pytest.mark.django_db

ATTACKER = "198.51.100.7"
ELSEWHERE = "203.0.113.20"


def _sign_in(client: Client, username: str, password: str, address: str, url: str = "/login/", **headers):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def _signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == reverse("home")


def _locked_out(response) -> bool:
    return response.status_code == 429 and b"Sign-in paused" in response.content


def _fail(username: str, address: str, times: int, url: str = "/login/") -> None:
    for _ in range(times):
        response = _sign_in(Client(), username, "not-the-password", address, url)
        assert response.status_code in (200, 429)


def test_wrong_passwords_then_the_right_one_is_refused_until_an_admin_unlocks(settings, admin_user):
    limit = settings.AXES_FAILURE_LIMIT
    _fail(admin_user.username, ATTACKER, limit - 1)
    assert _signed_in(_sign_in(Client(), admin_user.username, "pw-alice-admin", ATTACKER))  # under the limit

    _fail(admin_user.username, ATTACKER, limit)
    refused = _sign_in(Client(), admin_user.username, "pw-alice-admin", ATTACKER)
    assert _locked_out(refused)
    page = refused.content.decode()
    assert f"for {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in page and "administrator" in page
    assert "<html" in page and "Content-Security-Policy" in refused  # the site's page, not a bare 403

    call_command("axes_reset_username", admin_user.username)
    call_command("axes_reset_ip", ATTACKER)
    assert _signed_in(_sign_in(Client(), admin_user.username, "pw-alice-admin", ATTACKER))


def test_the_lockout_is_audited_once_when_it_begins(settings, admin_user):
    _fail(admin_user.username, ATTACKER, settings.AXES_FAILURE_LIMIT + 3)
    events = list(AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_LOCKOUT))
    assert len(events) == 1
    event = events[0]
    assert event.target == f"sign-in as {admin_user.username}" and event.actor_name == "system"
    assert event.ip_address == ATTACKER
    assert event.details == {"username": admin_user.username, "ip_address": ATTACKER,
                             "failures": settings.AXES_FAILURE_LIMIT, "path": "/login/",
                             "minutes": settings.AXES_COOLOFF_TIME.seconds // 60}


def test_a_locked_username_stays_locked_from_other_addresses(settings, admin_user, operator_user):
    _fail(admin_user.username, ATTACKER, settings.AXES_FAILURE_LIMIT)
    assert _locked_out(_sign_in(Client(), admin_user.username, "pw-alice-admin", ELSEWHERE))
    # Another account from that other address is not affected.
    assert _signed_in(_sign_in(Client(), operator_user.username, "pw-oscar-operator", ELSEWHERE))


def test_an_address_guessing_many_usernames_is_locked_for_every_account(settings, operator_user):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _fail(f"guess-{i}", ATTACKER, 1)
    assert _locked_out(_sign_in(Client(), operator_user.username, "pw-oscar-operator", ATTACKER))
    assert _signed_in(_sign_in(Client(), operator_user.username, "pw-oscar-operator", ELSEWHERE))
    call_command("axes_reset_ip", ATTACKER)
    assert _signed_in(_sign_in(Client(), operator_user.username, "pw-oscar-operator", ATTACKER))


def test_the_back_office_sign_in_counts_and_is_locked_too(settings, admin_user):
    _fail(admin_user.username, ATTACKER, settings.AXES_FAILURE_LIMIT - 1, url="/admin/login/")
    _fail(admin_user.username, ATTACKER, 1)  # the two pages share the count
    response = _sign_in(Client(), admin_user.username, "pw-alice-admin", ATTACKER, "/admin/login/?next=/admin/")
    assert _locked_out(response)
    assert _locked_out(_sign_in(Client(), admin_user.username, "pw-alice-admin", ATTACKER))


def test_the_lockout_ends_after_the_cool_off(settings, admin_user):
    _fail(admin_user.username, ATTACKER, settings.AXES_FAILURE_LIMIT)
    assert _locked_out(_sign_in(Client(), admin_user.username, "pw-alice-admin", ATTACKER))
    # Each try during the lockout restarted the wait; let it pass.
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert _signed_in(_sign_in(Client(), admin_user.username, "pw-alice-admin", ATTACKER))


def test_a_forged_forwarded_for_header_does_not_escape_the_address_lockout(settings, operator_user):
    """Exposed directly (TRUSTED_PROXY_COUNT=0), X-Forwarded-For is the client's own text."""
    assert settings.TRUSTED_PROXY_COUNT == 0
    for i in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(Client(), f"guess-{i}", "x", ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    response = _sign_in(Client(), operator_user.username, "pw-oscar-operator", ATTACKER,
                        HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert _locked_out(response)


def test_behind_a_trusted_proxy_the_lockout_is_per_client_not_per_proxy(settings, operator_user):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for i in range(settings.AXES_FAILURE_LIMIT):
        # The client forges a first entry; the proxy appends the address it really saw.
        _sign_in(Client(), f"guess-{i}", "x", proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, {ATTACKER}")
    assert AccessAttempt.objects.filter(ip_address=ATTACKER).count() == settings.AXES_FAILURE_LIMIT
    assert _locked_out(_sign_in(Client(), operator_user.username, "pw-oscar-operator", proxy,
                                HTTP_X_FORWARDED_FOR=ATTACKER))
    # Another visitor through the same proxy still signs in.
    assert _signed_in(_sign_in(Client(), operator_user.username, "pw-oscar-operator", proxy,
                               HTTP_X_FORWARDED_FOR=ELSEWHERE))


def test_an_admin_who_is_not_a_superuser_unlocks_in_the_back_office(settings, admin_user, admin_client,
                                                                       operator_client):
    assert not admin_user.is_superuser
    _fail(admin_user.username, ATTACKER, settings.AXES_FAILURE_LIMIT)
    attempt = AccessAttempt.objects.get(username=admin_user.username)
    assert _locked_out(_sign_in(Client(), admin_user.username, "pw-alice-admin", ATTACKER))

    assert operator_client.get("/admin/axes/accessattempt/").status_code == 403  # operators cannot unlock
    listing = admin_client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and admin_user.username in listing.content.decode()
    deleted = admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert _signed_in(_sign_in(Client(), admin_user.username, "pw-alice-admin", ATTACKER))
