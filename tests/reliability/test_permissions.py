"""Permissions of every URL the project serves, found by walking the URL resolver (pages, /api/v1/...,
the back office), for four callers: anonymous, an outsider (signed in, no role), an operator, an
admin. Also CSRF on every cookie-authenticated POST, and error pages that leak nothing.
"""
from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path, reverse
from django.urls.exceptions import NoReverseMatch

import config.urls

pytestmark = pytest.mark.django_db

# Reachable without signing in, each for a reason.
PUBLIC = {
    "login": "the sign-in page",
    "logout": "signing out needs no role (POST only)",
    "healthz": "load balancers and monitors probe it",
    "metrics": "answers its bearer token (METRICS_TOKEN), or this machine only with METRICS_ALLOW_LOOPBACK",
    "api-schema": "the OpenAPI schema documents the public chat API too",
    "api-docs": "the schema's browsable page",
    "customer_service:widget_frame": "the chat widget's frame, embedded by customers' sites (guarded by site key "
                                     "and allowed origins)",
    "cs-chat": "the public chat API: site key + allowed Origin, rate-limited, no cookies",
    "cs-chat-feedback": "the public chat API",
    "cs-chat-handoff": "the public chat API",
    "cs-chat-history": "the public chat API",
}
# Refused to operators: admins only.
ADMIN_ONLY = {
    "finance_sentiment:models", "finance_sentiment:labelled_set_upload", "finance_sentiment:labelled_set_delete",
    "finance_sentiment:retrain", "finance_sentiment:rescore", "finance_sentiment:api_key_create",
    "finance_sentiment:api_key_revoke", "customer_service:site_new",
    "customer_service:site_edit", "customer_service:settings", "customer_service:smalltalk",
    "customer_service:retrain", "recommendation:retrain", "control_policy_update", "control_retention_update",
    "control_retention_run", "model_version_shadow_start", "shadow_stop", "encoder_check_start",
    "model_version_activate", "classifier_train_start", "classifier_tune_start", "model_version_robustness_start",
    "model_version_compress_start", "recommendation-retrain",
}
SAMPLE_BY_NAME = {"scenario": "finance_sentiment.sentiment", "fmt": "csv", "which": "sentiment", "kind": "documents",
                  "app_label": "auth", "object_id": "1", "content_type_id": "1", "pk": "1"}


def _sample(name: str, converter) -> str:
    if name in SAMPLE_BY_NAME:
        return SAMPLE_BY_NAME[name]
    kind = type(converter).__name__ if converter is not None else ""
    return {"IntConverter": "1", "UUIDConverter": str(uuid.uuid4())}.get(kind, "x")


def _walk(patterns, namespace: str = "") -> list[tuple[str, str]]:
    """(url name, a concrete path) for every named pattern that can be reversed with sample values."""
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += _walk(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            name = namespace + entry.name
            converters = getattr(entry.pattern, "converters", {})
            groups = list(converters) or list(entry.pattern.regex.groupindex)
            try:
                url = reverse(name, kwargs={g: _sample(g, converters.get(g)) for g in groups})
            except NoReverseMatch:
                continue
            found.append((name, url))
    return sorted(set(found))


ALL = _walk(get_resolver().url_patterns)
SITE = [(name, url) for name, url in ALL if not name.startswith("admin:")]
BACK_OFFICE = [(name, url) for name, url in ALL if name.startswith("admin:")]


def test_the_walk_found_every_page_and_api_route():
    names = {name for name, _ in SITE}
    assert len(SITE) >= 90 and len(BACK_OFFICE) >= 20
    assert PUBLIC.keys() <= names and ADMIN_ONLY <= names, (PUBLIC.keys() | ADMIN_ONLY) - names
    assert {"job-list", "finance-document-list", "recommendation-items", "cs-chat"} <= names


def _is_login_redirect(response, login: str = settings.LOGIN_URL) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse(login) if ":" not in login
                                                                            else login)


@pytest.mark.parametrize("name, url", [p for p in SITE if p[0] not in PUBLIC], ids=lambda v: str(v))
def test_anonymous_is_sent_to_sign_in_or_refused(client, name, url):
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert _is_login_redirect(response) or response.status_code in (401, 403, 405), (
            f"{method.upper()} {url} ({name}) answered {response.status_code} to an anonymous visitor")


@pytest.mark.parametrize("name, url", [p for p in SITE if p[0] not in PUBLIC], ids=lambda v: str(v))
def test_a_signed_in_user_without_a_role_is_refused(outsider_client, name, url):
    for method in ("get", "post"):
        response = getattr(outsider_client, method)(url)
        assert response.status_code in (403, 404, 405), (
            f"{method.upper()} {url} ({name}) answered {response.status_code} to a user without a role")


@pytest.mark.parametrize("name, url", [p for p in SITE if p[0] in ADMIN_ONLY], ids=lambda v: str(v))
def test_admin_only_pages_refuse_operators(operator_client, name, url):
    for method in ("get", "post"):
        response = getattr(operator_client, method)(url)
        assert response.status_code in (403, 405), f"{method.upper()} {url} let an operator in"


def test_operators_and_admins_get_into_their_pages(operator_client, admin_client):
    """Every GET page without an object in its address opens (200) for an operator, unless
    admin-only, and for an admin always; pages of one object answer 404 (none exist), never 403."""
    for name, url in SITE:
        if name in PUBLIC:
            continue
        for who, client in (("operator", operator_client), ("admin", admin_client)):
            if who == "operator" and name in ADMIN_ONLY:
                continue
            response = client.get(url)
            assert response.status_code in (200, 302, 404, 405, 400), f"GET {url} ({name}) as {who}: " \
                                                                       f"{response.status_code}"
            if response.status_code == 302:
                assert not _is_login_redirect(response), f"{url} sent a signed-in {who} to sign in"


def test_the_back_office_lets_in_staff_only(client, outsider_client, operator_client):
    for name, url in BACK_OFFICE:
        if name in ("admin:login", "admin:logout", "admin:jsi18n", "admin:view_on_site"):
            continue
        for who, c in (("anonymous", client), ("outsider", outsider_client)):
            response = c.get(url)
            assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), (
                f"{url} ({name}) answered {response.status_code} to {who}")
    assert operator_client.get("/admin/").status_code == 200  # operators are staff with view permissions


# --- CSRF on cookie-authenticated writes ------------------------------------------------------------------
CSRF_EXEMPT = {"cs-chat", "cs-chat-feedback", "cs-chat-handoff", "cs-chat-history"}  # no cookies: site key


def test_every_cookie_authenticated_post_without_its_csrf_token_is_refused(csrf_admin_client):
    for name, url in ALL:
        if name in CSRF_EXEMPT:
            continue
        if url.startswith("/api/"):
            response = csrf_admin_client.post(url, {"name": "x"}, content_type="application/json")
        else:
            response = csrf_admin_client.post(url, {"name": "x"})
        assert response.status_code == 403, f"POST {url} ({name}) without a CSRF token: {response.status_code}"
    # And with the token, a form goes through (the refusals above are CSRF's, not the role's).
    csrf_admin_client.get("/customer-service/kb/new/")
    token = csrf_admin_client.cookies["csrftoken"].value
    response = csrf_admin_client.post("/customer-service/kb/new/", {"csrfmiddlewaretoken": token, "intent": "x"})
    assert response.status_code == 200  # the form, re-shown with its errors


def test_the_session_api_needs_the_csrf_token_too(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post("/api/v1/recommendation/items/", {"items": []}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


# --- error responses leak nothing -----------------------------------------------------------------------
def _boom(request):
    raise RuntimeError("secret internals: " + settings.SECRET_KEY)


urlpatterns = [path("boom/", _boom), path("api/v1/boom/", _boom), *config.urls.urlpatterns]
handler404 = config.urls.handler404
handler500 = config.urls.handler500


@pytest.mark.urls(__name__)
def test_error_pages_show_no_traceback_or_settings(admin_client, settings):
    assert settings.DEBUG is False  # as in production
    admin_client.raise_request_exception = False
    for url, status in (("/no-such-page/", 404), ("/api/v1/no-such-endpoint/", 404), ("/boom/", 500),
                        ("/api/v1/boom/", 500), ("/api/v1/jobs/not-a-uuid/", 404)):
        response = admin_client.get(url)
        body = response.content.decode(errors="replace")
        assert response.status_code == status, url
        for leak in ("Traceback", "secret internals", settings.SECRET_KEY, "DATABASES", "INSTALLED_APPS",
                     str(settings.BASE_DIR), "RuntimeError"):
            assert leak not in body, f"{url} shows {leak!r}"
        if url.startswith("/api/"):
            assert response["Content-Type"].startswith("application/json") and response.json()["detail"]
