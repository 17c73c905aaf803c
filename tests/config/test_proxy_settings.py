"""X-Forwarded-Proto and X-Forwarded-For are trusted only when TRUSTED_PROXY_COUNT says proxies stand
in front; compose publishes gunicorn itself, so it trusts none unless told."""
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _production(tmp_path, expression: str, **env) -> str:
    code = ("import django; django.setup(); from django.conf import settings; "
            "from django.test import RequestFactory; "
            f"print({expression})")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.production",
             "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "suite.example.com", **env}, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


FORWARDED_HTTPS = "RequestFactory().get('/', HTTP_X_FORWARDED_PROTO='https').is_secure()"


def test_production_ignores_x_forwarded_proto_unless_behind_a_proxy(tmp_path):
    assert _production(tmp_path, f"settings.SECURE_PROXY_SSL_HEADER, {FORWARDED_HTTPS}") == "None False"
    assert _production(tmp_path, f"settings.SECURE_PROXY_SSL_HEADER, {FORWARDED_HTTPS}", TRUSTED_PROXY_COUNT="1") \
        == "('HTTP_X_FORWARDED_PROTO', 'https') True"


def test_compose_trusts_no_proxy_by_default_while_it_publishes_gunicorn():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    web = compose["services"]["web"]
    assert "8000:8000" in web["ports"]
    assert web["environment"]["TRUSTED_PROXY_COUNT"] == "${TRUSTED_PROXY_COUNT:-0}"
