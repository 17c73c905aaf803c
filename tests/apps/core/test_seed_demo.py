from io import StringIO

import pytest
from django.contrib.auth import authenticate as django_authenticate
from django.core.management import call_command
from django.test import RequestFactory

from apps.core.models import Job
from apps.core.roles import is_admin, is_operator

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    """seed_demo writes the passwords into VAR_DIR: never into a developer's own var/."""
    settings.VAR_DIR = tmp_path / "var"


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


def test_the_printed_passwords_are_also_in_a_file_only_the_owner_can_read(settings):
    import stat

    first = _seed("--no-job")
    path = settings.VAR_DIR / "demo-passwords.txt"
    assert f"also written to {path}, readable only by you" in first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = path.read_text()
    for username in ("admin", "operator"):
        assert f"username: {username:<10} password: {_password(first, username)}" in written
        assert authenticate(username=username, password=_password(first, username))

    again = _seed("--no-job")  # nothing new to say: the file stays, the output points to it
    assert f"their passwords are in {path}" in again and path.read_text() == written

    path.chmod(0o644)  # a reset replaces the file, with the owner's rights only again
    reset = _seed("--reset-passwords", "--no-job")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"password: {_password(reset, 'admin')}" in path.read_text()
    assert _password(reset, "admin") != _password(first, "admin")
    assert [p.name for p in path.parent.iterdir()] == ["demo-passwords.txt"]  # no partial file left


def test_the_first_trainings_are_queued_quickest_first_and_finance_before_the_chat():
    """One training worker takes them in order: the recommender (seconds), then the finance model,
    whose documents still wait for scoring and alerting after it, then the intent model."""
    output = _seed("--no-job")
    assert "Demo content seeded for: recommendation, finance_sentiment, customer_service" in output
    queued = list(Job.objects.filter(kind__in=["recommendation.train_recommender", "core.train_classifier"])
                  .order_by("created_at").values_list("scenario", flat=True))
    assert queued == ["recommendation.hybrid", "finance_sentiment.sentiment", "customer_service.intent"]
