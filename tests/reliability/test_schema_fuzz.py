"""Schemathesis against the project's own OpenAPI schema (/api/schema/): every operation, authenticated.

The schema is fetched from the running WSGI application and every operation is fuzzed in-process:
generated bodies, query strings, path parameters and headers. Each response must not be a server
error, must carry a status the schema declares, and must match the schema's body for that status.

Requests are authenticated as a real caller would be: an admin's session cookie with its CSRF token
(operators' and admins' endpoints), a finance API key (`Authorization: Bearer fin_...`) where the
schema offers it, and for the public chat API the site's key with an allowed `Origin` header.
Some path ids and site keys are swapped for ones that exist, so that fuzzing reaches past the 404s.

Generated values are mixed with what broke the API before (issue 15): numbers written with other
digits ('²' passes str.isdigit() but int() refuses it; '９'; past a bigint) in every query parameter
and body field, and JSON nested past the decoder's recursion limit. The explicit test sends those to
every operation, so they are tried whatever hypothesis draws.
"""
from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from apps.core.models import ApiKey
from apps.core.services.api_keys import api_key_create
from apps.core.services.jobs import job_create
from apps.customer_service.models import Site
from apps.finance_sentiment.models import Alert, AlertRule, IngestBatch, Topic
from apps.finance_sentiment.services.ingestion import documents_ingest
from apps.recommendation.services import items_upsert

ORIGIN = "https://shop.example"
CSRF_SECRET = "a" * 32  # any 32 alphanumerics: Django compares the cookie with the header


@dataclass
class World:
    """What the fuzzed requests authenticate with, and ids of rows that exist."""

    session_cookie: str
    api_key: str
    site_key: str
    ids: dict[str, list]


def _seed(admin_user) -> dict[str, list]:
    topic = Topic.objects.create(name="Shipping", slug="shipping", keywords=["port", "container"])
    result = documents_ingest(
        items=[{"text": "The harbour operator raised its profit forecast.", "title": "Harbour", "tickers": ["HRB"]},
               {"text": "Shares of the lender fell on loan-loss provisions.", "source": "wire"}],
        origin=IngestBatch.Origin.API, label="seed", submitted_by=admin_user, evaluate_alerts=False)
    now = timezone.now()
    rule = AlertRule.objects.create(name="Negative share", topic=topic)
    alert = Alert.objects.create(
        rule=rule, topic=topic, series=f"topic:{topic.pk}", metric="negative_share", granularity="hour",
        window_start=now - dt.timedelta(hours=1), window_end=now, observed=0.8, expected=0.2, sigma=0.1, z=6.0,
        volume=12, negative=9, peak_observed=0.8, message="seeded surge", last_seen_at=now)
    job = job_create(kind="core.encoder_check", title="seeded", created_by=admin_user)
    items_upsert(items=[{"id": "film-1", "title": "A detective story", "categories": ["drama"]},
                        {"id": "film-2", "title": "A space thriller", "categories": ["sci-fi"]}],
                 start_embedding=False)
    documents = [d.pk for d in result.batch.documents.all()]
    return {"documents": documents, "batches": [result.batch.pk], "alerts": [alert.pk], "topics": [topic.pk],
            "jobs": [str(job.pk)], "items": ["film-1", "film-2"], "users": ["u-1"]}


@pytest.fixture
def fuzz_world(db, admin_user, client) -> World:
    """Seeded rows plus credentials; raw WSGI calls keep the test's database connection (as Django's
    test client does: closing 'old' connections would end the test transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        client.force_login(admin_user)
        site = Site.objects.create(name="Shop", allowed_origins=ORIGIN, rate_limit_per_ip="100000/m",
                                   rate_limit_per_site="100000/m")
        _, plain = api_key_create(name="fuzzer", scopes=list(ApiKey.Scope.values))
        yield World(session_cookie=client.cookies["sessionid"].value, api_key=plain, site_key=site.public_key,
                    ids=_seed(admin_user))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# Loaded once at collection, as CI serves it: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())

# Numbers as people paste them: superscripts and other scripts' digits (str.isdigit() is true for
# '²', int() refuses it), full-width digits, Roman numerals, a number past any integer column, one
# past int()'s 4,300-digit limit.
UNICODE_NUMBERS = ["²", "1²", "¹⁰", "٣", "１２", "Ⅻ", "9" * 25, "9" * 5000]
UNICODE_NUMBER = st.one_of(st.sampled_from(UNICODE_NUMBERS),
                           st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=4))
DEEP_JSON = "[" * 100_000  # never closed: past the decoder's recursion limit


def _with_unicode_numbers(strategy, names):
    """The generated values, or the same with some of `names` replaced by Unicode numbers."""
    if not names:
        return strategy
    replacement = st.fixed_dictionaries({}, optional={name: UNICODE_NUMBER for name in names})
    return st.one_of(strategy, strategy.flatmap(
        lambda value: replacement.map(lambda hostile: {**value, **hostile}) if isinstance(value, dict)
        else st.just(value)))


@schema.hook
def before_generate_query(context, strategy):
    return _with_unicode_numbers(strategy, [parameter.name for parameter in context.operation.query])


@schema.hook
def before_generate_body(context, strategy):
    return _with_unicode_numbers(strategy, sorted({name for body in context.operation.body
                                                   for name in _body_properties(context.operation, body)}))


def _body_properties(operation, body) -> dict[str, dict]:
    """The top-level properties of a request body's schema ({} when it has none by name)."""
    definition = operation.schema.raw_schema["paths"][operation.path][operation.method.lower()]["requestBody"]
    body_schema = definition["content"][body.media_type]["schema"]
    if "$ref" in body_schema:
        body_schema = operation.schema.raw_schema["components"]["schemas"][body_schema["$ref"].rsplit("/", 1)[1]]
    return body_schema.get("properties", {})


def _pick(case, choices: list):
    """A deterministic half of the cases get an existing id / key, the rest keep the generated one."""
    seed = zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode(errors="replace"))
    return choices[seed % len(choices)] if seed % 2 == 0 else None


def _authenticate(case, world: World) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, cookies) for this case; may swap in existing ids and the real site key."""
    path = case.operation.path
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    if path.startswith("/api/v1/chat/"):
        # The public chat API: no session; the site key and an allowed Origin header.
        headers["Origin"] = ORIGIN
        if _pick(case, [world.site_key]) is not None:
            if isinstance(case.body, dict):
                case.body["site_key"] = world.site_key
            if isinstance(case.query, dict):
                case.query["site_key"] = world.site_key
        return headers, cookies
    if _accepts_bearer_key(case) and zlib.crc32(repr(case.query).encode(errors="replace")) % 2:
        headers["Authorization"] = f"Bearer {world.api_key}"
    else:
        cookies.update(sessionid=world.session_cookie, csrftoken=CSRF_SECRET)
        headers["X-CSRFToken"] = CSRF_SECRET
    for name, collection in (("id", None), ("item", "items"), ("user", "users")):
        if isinstance(case.path_parameters, dict) and name in case.path_parameters:
            collection = collection or path.split("/")[4 if path.startswith("/api/v1/finance/") else 3]
            existing = _pick(case, world.ids.get(collection, []) or [None])
            if existing is not None:
                case.path_parameters[name] = existing
    return headers, cookies


def _accepts_bearer_key(case) -> bool:
    schemes = case.operation.schema.raw_schema.get("components", {}).get("securitySchemes", {})
    offered = {name for requirement in case.operation.definition.raw.get("security", []) for name in requirement}
    return any(schemes.get(name, {}).get("scheme") == "bearer" for name in offered)


@schemathesis.check
def no_server_error(ctx, response, case):
    """No 5xx, except a 503 the operation documents (a model not trained yet), which says why."""
    if response.status_code < 500:
        return None
    documented = str(response.status_code) in case.operation.definition.raw.get("responses", {})
    assert response.status_code == 503 and documented and response.json().get("detail"), (
        f"server error {response.status_code}: {response.text[:300]!r}")
    return True


@schemathesis.check
def client_error_says_why(ctx, response, case):
    """A 4xx is JSON naming the problem: {"detail": "..."} or the fields with their messages."""
    if not 400 <= response.status_code < 500 or response.status_code == 405 and case.method == "OPTIONS":
        return None
    body = response.json()  # raises (and fails the case) when the body is not JSON
    assert isinstance(body, dict) and body, f"{response.status_code} without a reason: {response.text[:200]!r}"
    assert any(value not in ("", [], {}, None) for value in body.values()), f"empty reason: {body!r}"
    return True


@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_operation_never_answers_a_server_error_and_matches_its_schema(case, fuzz_world):
    headers, cookies = _authenticate(case, fuzz_world)
    # A real server always knows the client's address (the chat's per-IP rate limit counts it).
    response = case.call(headers=headers, cookies=cookies, environ_overrides={"REMOTE_ADDR": "203.0.113.7"})
    # Statuses are not checked against the schema: drf-spectacular documents only each operation's
    # success, not the 400/401/403/404 every endpoint may give; client_error_says_why checks those.
    case.validate_response(response, headers=headers, checks=[
        no_server_error, content_type_conformance, response_schema_conformance, client_error_says_why])


# Fields of the batch items ({"items": [...]}, {"events": [...]}) that the schema leaves open.
ITEM_FIELDS = ("id", "user", "item", "kind", "value", "timestamp", "event_id", "text", "title", "published_at")
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


def _existing_path_parameters(operation, world: World) -> dict:
    """Path parameters that name rows that exist (any UUID for a conversation), to reach the query."""
    found = {}
    for parameter in operation.path_parameters:
        if parameter.name == "conversation_id":
            found[parameter.name] = "4b9a4d6e-2f1c-4c4e-9a52-2d5f6b1e0c11"
            continue
        collection = {"item": "items", "user": "users"}.get(parameter.name) or operation.path.split("/")[
            4 if operation.path.startswith("/api/v1/finance/") else 3]
        found[parameter.name] = (world.ids.get(collection) or ["1"])[0]
    return found


def _hostile_cases(operation, world: World):
    """(case, raw body or None): each query parameter set to each Unicode number on its own (a
    check that fails first must not hide the next one), every body field at once (serializers
    report all fields), path parameters, and a JSON body nested past the decoder's limit."""
    existing = _existing_path_parameters(operation, world)
    site_key = {"site_key": world.site_key} if operation.path.startswith("/api/v1/chat/") else {}
    for value in UNICODE_NUMBERS:
        for parameter in operation.query:
            query = {**site_key, parameter.name: value} if any(p.name == "site_key" for p in operation.query) \
                else {parameter.name: value}
            yield operation.Case(path_parameters=existing, query=query), None
        if operation.path_parameters:
            yield operation.Case(path_parameters={p.name: value for p in operation.path_parameters}), None
        for body in operation.body:
            payload = {}
            for name, definition in _body_properties(operation, body).items():
                is_batch = definition.get("type") == "array" and body.media_type == "application/json"
                payload[name] = [{field: value for field in ITEM_FIELDS}] if is_batch else value
            yield operation.Case(path_parameters=existing, body=payload, media_type=body.media_type), None
    if any(body.media_type == "application/json" for body in operation.body):
        yield operation.Case(path_parameters=existing, body={}, media_type="application/json"), DEEP_JSON


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{op.method.upper()} {op.path}" for op in OPERATIONS])
def test_unicode_numbers_and_deep_json_never_cause_a_server_error(operation, fuzz_world):
    for case, raw_body in _hostile_cases(operation, fuzz_world):
        headers, cookies = _authenticate(case, fuzz_world)
        extra = {"data": raw_body} if raw_body is not None else {}
        response = case.call(headers=headers, cookies=cookies, environ_overrides={"REMOTE_ADDR": "203.0.113.7"},
                             **extra)
        case.validate_response(response, headers=headers, checks=[no_server_error, client_error_says_why])
        if raw_body is not None and response.status_code == 400:
            assert "JSON nested deeper than" in response.json()["detail"]
