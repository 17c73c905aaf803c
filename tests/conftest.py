"""Fixtures shared by every test: users in each role, clients, tiny models, real workers."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client

from apps.core.roles import ADMINS, OPERATORS, sync_role_groups

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))


def pytest_sessionstart(session) -> None:
    # Leftovers of an earlier run must not reach this run's workers.
    for folder in (Path(settings.CELERY_FILESYSTEM_BROKER_DIR) / "queue", Path(settings.ARTIFACTS_ROOT)):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _artifacts_root(settings, tmp_path):
    """Each test writes model versions to a folder of its own (workers it starts get the same)."""
    settings.ARTIFACTS_ROOT = tmp_path / "artifacts"


@pytest.fixture(autouse=True)
def _shadow_cache():
    """Which shadow deployment runs is cached per process for seconds: never across tests."""
    from apps.core.services.shadow import shadow_cache_clear

    shadow_cache_clear()
    yield
    shadow_cache_clear()


# --- users and clients ------------------------------------------------------------------------
def _user(django_user_model, username: str, group: str | None):
    sync_role_groups()
    user = django_user_model.objects.create_user(username=username, password="pw-" + username, is_staff=bool(group))
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def admin_user(django_user_model):
    return _user(django_user_model, "alice-admin", ADMINS)


@pytest.fixture
def operator_user(django_user_model):
    return _user(django_user_model, "oscar-operator", OPERATORS)


@pytest.fixture
def outsider_user(django_user_model):
    """Signed in, but in neither group: must be refused everywhere."""
    return _user(django_user_model, "nina-nobody", None)


def _client_for(user, enforce_csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user) -> Client:
    return _client_for(admin_user)


@pytest.fixture
def operator_client(operator_user) -> Client:
    return _client_for(operator_user)


@pytest.fixture
def outsider_client(outsider_user) -> Client:
    return _client_for(outsider_user)


@pytest.fixture
def csrf_admin_client(admin_user) -> Client:
    """A client that, like a browser, must send the CSRF token with every form."""
    return _client_for(admin_user, enforce_csrf=True)


# --- models -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_encoder_path(tmp_path_factory) -> Path:
    from ml_core.testing import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


# --- real Celery workers ----------------------------------------------------------------------
def database_url_for_workers() -> str:
    """The URL of the database the tests are using right now (the test database)."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host = f"{auth}@{db['HOST'] or '127.0.0.1'}" if auth else (db["HOST"] or "127.0.0.1")
    return f"postgres://{host}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole worker (main process and its pool children), as the OOM killer would."""
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


@contextmanager
def run_worker(*, broker_url: str | None = None, queues: str = "training,inference",
               concurrency: int = 1, log_dir: Path | None = None,
               extra_env: dict | None = None) -> Iterator[WorkerProcess]:
    """Start `celery -A config worker` as a real process on the test database and a real broker."""
    log_dir = log_dir or Path(settings.VAR_DIR) / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for_workers(),
        "TEST_CELERY_BROKER_URL": broker_url or settings.CELERY_BROKER_URL,
        "TEST_CELERY_BROKER_DIR": str(settings.CELERY_FILESYSTEM_BROKER_DIR),
        "TEST_ARTIFACTS_ROOT": str(settings.ARTIFACTS_ROOT),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues,
        "-c", str(concurrency), "-n", f"test-{uuid.uuid4().hex[:6]}@%h", "-l", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(process, log_path)
    try:
        deadline = time.monotonic() + 90
        while " ready." not in worker.log():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{worker.log()[-3000:]}")
            time.sleep(0.2)
        yield worker
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
