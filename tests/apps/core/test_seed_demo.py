from io import StringIO

import pytest
from django.contrib.auth import authenticate as django_authenticate
from django.core.management import call_command
from django.test import RequestFactory

from apps.core.models import Job
from apps.core.roles import is_admin, is_operator

pytestmark = pytest.mark.django_db


def _seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _password(output: str, username: str) -> str:
    line = next(line for line in output.splitlines() if f"username: {username} " in line)
    return line.rsplit("password: ", 1)[1].strip()


def authenticate(**credentials):
    """As a sign-in page does: the login lockout (django-axes) needs the request."""
    return django_authenticate(RequestFactory().post("/login/"), **credentials)


def test_seed_demo_creates_users_prints_passwords_once_and_queues_a_demo_job():
    first = _seed()
    admin = authenticate(username="admin", password=_password(first, "admin"))
    operator = authenticate(username="operator", password=_password(first, "operator"))
    assert admin and is_admin(admin) and admin.is_staff
    assert operator and is_operator(operator) and not is_admin(operator)
    assert Job.objects.filter(kind="core.encoder_check", state="queued").count() == 1

    second = _seed()
    assert "password:" not in second and "exist already" in second
    assert Job.objects.filter(kind="core.encoder_check").count() == 1  # idempotent

    reset = _seed("--reset-passwords", "--no-job")
    assert authenticate(username="admin", password=_password(reset, "admin"))
