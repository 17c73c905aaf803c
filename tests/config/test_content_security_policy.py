"""Every page carries a strict Content-Security-Policy (django-csp): scripts and styles from this
site only, inline code only with the request's nonce, no framing except the chat widget's frame.
The browser-side check (no page triggers a violation) is tests/e2e/test_csp.py."""
import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
TEMPLATE_DIRS = [ROOT / "templates", *sorted((ROOT / "apps").glob("*/templates"))]


def policy_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split("; "))}


def _assert_strict(policy: dict[str, list[str]], url: str) -> None:
    assert policy["default-src"] == ["'self'"], url
    scripts = policy["script-src"]
    assert scripts[0] == "'self'" and all(v.startswith("'nonce-") for v in scripts[1:]), (url, scripts)
    assert "'unsafe-inline'" not in policy["style-src"] and "'unsafe-eval'" not in scripts, url
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'self'"], url
    assert policy["frame-ancestors"] == ["'none'"], url


def test_pages_for_every_caller_carry_the_policy(client, operator_client, admin_client):
    pages = [(client, "/login/"), (client, "/no-such-page/"), (client, "/api/docs/"),
             (operator_client, "/"), (operator_client, "/jobs/"), (operator_client, "/finance/"),
             (operator_client, "/customer-service/"), (operator_client, "/recommendation/"),
             (admin_client, "/admin/"), (admin_client, "/control/")]
    for who, url in pages:
        response = who.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        _assert_strict(policy_of(response), url)


def test_an_inline_style_is_allowed_by_its_nonce_only(client):
    response = client.get("/api/docs/")
    policy = policy_of(response)
    nonces = [v for v in policy["style-src"] if v.startswith("'nonce-")]
    assert len(nonces) == 1
    html = response.content.decode()
    assert f'<style nonce="{nonces[0][7:-1]}">' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script on the API docs page"
    assert client.get("/api/docs/")["Content-Security-Policy"] != response["Content-Security-Policy"]  # per request


def test_templates_have_no_inline_scripts_or_event_handler_attributes():
    """Inline code is refused by the browser: move it to static/js/, or give an inline <script> the
    request's nonce (nonce="{{ request.csp_nonce }}")."""
    offenders = []
    for folder in TEMPLATE_DIRS:
        for path in folder.rglob("*.html"):
            text = path.read_text()
            for match in re.finditer(r"<script\b[^>]*>", text):
                if "src=" not in match.group(0) and "csp_nonce" not in match.group(0):
                    offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
            for match in re.finditer(r"<[a-z][^>]*\son[a-z]+\s*=", text, re.IGNORECASE):
                offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)[:80]}")
            if "javascript:" in text:
                offenders.append(f"{path.relative_to(ROOT)}: javascript: URL")
    assert not offenders, "\n".join(offenders)
