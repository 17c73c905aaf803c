"""API keys for server-to-server calls: stored as a hash only, scoped, revocable, audited, throttled
last-use writes; the back office creates them (shown once) and revokes them; the schema shows them."""
import hashlib
from datetime import timedelta

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from apps.core.api_keys import IsOperatorOrApiKey
from apps.core.models import ApiKey, AuditEvent
from apps.core.services.api_keys import ApiKeyError, api_key_authenticate, api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db
REC, FIN = ApiKey.Scope.RECOMMENDATION, ApiKey.Scope.FINANCE


def _stored_text(key: ApiKey) -> str:
    """Everything the database holds about a key and its audit events, as one string."""
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    events = list(AuditEvent.objects.values_list("target", "details"))
    return repr(row) + repr(events)


def test_only_the_hash_of_the_plain_key_is_stored(admin_user):
    key, plain = api_key_create(name="shop backend", scopes=[REC], created_by=admin_user)
    assert plain.startswith("ak_") and len(plain) >= 40
    assert key.key_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert key.prefix == plain[:10] and key.scopes == ["recommendation"] and key.created_by == admin_user
    secret_part = plain[10:]
    assert secret_part not in _stored_text(key)
    # Two keys never share a secret.
    _, other = api_key_create(name="other", scopes=[REC])
    assert other != plain


def test_create_is_audited_and_bad_requests_are_named(admin_user):
    key, _ = api_key_create(name="  feed importer ", scopes=[FIN, REC, FIN], created_by=admin_user)
    assert key.name == "feed importer" and key.scopes == ["finance", "recommendation"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.API_KEY_CREATE)
    assert event.actor == admin_user and key.prefix in event.target
    assert event.details == {"prefix": key.prefix, "scopes": ["finance", "recommendation"]}

    with pytest.raises(ApiKeyError, match="unknown scope 'billing'"):
        api_key_create(name="x", scopes=["billing"])
    with pytest.raises(ApiKeyError, match="at least one scope"):
        api_key_create(name="x", scopes=[])
    with pytest.raises(ApiKeyError, match="needs a name"):
        api_key_create(name="  ", scopes=[REC])
    assert ApiKey.objects.count() == 1  # nothing half-made


def test_authenticate_finds_the_key_and_names_why_it_refuses(admin_user):
    key, plain = api_key_create(name="k", scopes=[REC])
    assert api_key_authenticate(plain=f"  {plain}\n").key == key
    wrong_secret = plain[:10] + "x" * (len(plain) - 10)  # same prefix, other secret
    assert api_key_authenticate(plain=wrong_secret).key is None
    assert api_key_authenticate(plain="ak_nothing").problem == "unknown API key"
    for odd in ["é\u200b🙂" * 50, plain + "\x00", "\x00", "", "ak_" + "a" * 5000]:
        assert api_key_authenticate(plain=odd).problem == "unknown API key"

    api_key_revoke(key=key, revoked_by=admin_user)
    api_key_revoke(key=key, revoked_by=admin_user)  # again: no change, no second event
    check = api_key_authenticate(plain=plain)
    assert check.key is None and check.problem == "this API key was revoked"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.API_KEY_REVOKE, actor=admin_user).count() == 1


def test_last_used_is_written_at_most_once_a_minute():
    key, plain = api_key_create(name="busy", scopes=[REC])
    assert key.last_used_at is None
    api_key_authenticate(plain=plain)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert api_key_authenticate(plain=plain).key == key
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first

    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    api_key_authenticate(plain=plain)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first - timedelta(seconds=1)


def test_the_permission_needs_a_known_scope():
    with pytest.raises(ValueError, match="unknown API key scope 'billing'"):
        IsOperatorOrApiKey("billing")


def test_a_malformed_authorization_header_is_a_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer two parts")
    response = client.get("/api/v1/recommendations/u/")
    assert response.status_code == 401 and "Bearer <key>" in response.json()["detail"]
    client.credentials(HTTP_X_API_KEY="ak_\x00\u202eevil")  # a NUL would break a PostgreSQL query
    assert client.get("/api/v1/recommendations/u/").status_code == 401


def test_the_schema_shows_the_bearer_scheme_on_key_endpoints(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    scheme = schema["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer") and "Authorization: Bearer" in scheme["description"]
    for path, method in [("/api/v1/recommendation/items/", "post"), ("/api/v1/recommendations/{user}/", "get"),
                         ("/api/v1/finance/documents/", "post")]:
        assert {"apiKey": []} in schema["paths"][path][method]["security"], path
    assert {"apiKey": []} not in schema["paths"]["/api/v1/recommendation/retrain/"]["post"]["security"]


# --- the back office ------------------------------------------------------------------------------
def test_admins_create_a_key_in_the_back_office_and_see_it_once(admin_client, admin_user):
    add_url = reverse("admin:core_apikey_add")
    assert admin_client.get(add_url).status_code == 200
    refused = admin_client.post(add_url, {"name": "shop", "scopes": []})
    assert refused.status_code == 200 and b"This field is required" in refused.content
    assert not ApiKey.objects.exists()

    response = admin_client.post(add_url, {"name": "shop", "scopes": [REC]})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get()
    page = response.content.decode()
    plain = page.split('<code class="api-key">')[1].split("</code>")[0]
    assert plain.startswith(key.prefix) and key.key_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert key.scopes == ["recommendation"] and key.created_by == admin_user

    listing = admin_client.get(reverse("admin:core_apikey_changelist")).content.decode()
    detail = admin_client.get(reverse("admin:core_apikey_change", args=[key.pk])).content.decode()
    assert key.prefix in listing and plain not in listing and plain not in detail and key.key_hash not in detail

    response = admin_client.post(reverse("admin:core_apikey_changelist"),
                                 {"action": "revoke_keys", "_selected_action": [key.pk]}, follow=True)
    assert b"Revoked 1 key(s)." in response.content
    assert ApiKey.objects.get().revoked_at is not None
    assert AuditEvent.objects.filter(actor=admin_user, action__startswith="apikey.").count() == 2


def test_operators_see_keys_but_cannot_create_or_revoke_them(operator_client, outsider_client):
    key, _ = api_key_create(name="shop", scopes=[REC])
    assert operator_client.get(reverse("admin:core_apikey_changelist")).status_code == 200
    assert operator_client.get(reverse("admin:core_apikey_add")).status_code == 403
    assert operator_client.post(reverse("admin:core_apikey_add"), {"name": "x", "scopes": [REC]}).status_code == 403
    operator_client.post(reverse("admin:core_apikey_changelist"), {"action": "revoke_keys", "_selected_action": [key.pk]})
    assert ApiKey.objects.get().revoked_at is None and ApiKey.objects.count() == 1
    assert outsider_client.get(reverse("admin:core_apikey_changelist")).status_code == 302  # to the login
