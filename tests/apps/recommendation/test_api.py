"""The REST API: recommendations and similar items, bad input, batches, permissions, API keys."""
import pytest
from rest_framework.test import APIClient

from apps.core.models import ApiKey, Job
from apps.core.services.api_keys import api_key_create, api_key_revoke
from apps.recommendation.models import EndUser, Interaction, Item

pytestmark = pytest.mark.django_db

RECS = "/api/v1/recommendations/{}/"


def test_a_known_user_gets_k_hybrid_items_never_seen_with_reasons(operator_client, trained):
    response = operator_client.get(RECS.format("user-0") + "?k=5")
    assert response.status_code == 200
    body = response.json()
    assert body["strategy"] == "hybrid" and body["known_user"] and body["model_version"] == trained.version
    seen = set(Interaction.objects.filter(user__external_id="user-0").values_list("item__external_id", flat=True))
    items = [row["item"] for row in body["items"]]
    assert len(items) == 5 and not set(items) & seen
    assert all(row["reason"].startswith("Because you ") and row["because"] in seen for row in body["items"])


def test_an_unknown_user_gets_popular_items_with_that_reason(operator_client, trained):
    body = operator_client.get(RECS.format("never-seen") + "?k=4").json()
    assert body["strategy"] == "popularity" and not body["known_user"]
    assert len(body["items"]) == 4
    assert all(row["reason"].startswith("Popular in ") for row in body["items"])


def test_before_any_model_unknown_users_still_get_popular_items(operator_client, shop):
    body = operator_client.get(RECS.format("never-seen") + "?k=3").json()
    assert body["model_version"] is None and body["strategy"] == "popularity"
    assert len(body["items"]) == 3 and all("Popular in" in row["reason"] for row in body["items"])


def test_a_new_user_with_two_events_gets_content_based_results(operator_client, trained):
    response = operator_client.post("/api/v1/recommendation/events/", {"events": [
        {"user": "newcomer", "item": "space-1", "kind": "like"},
        {"user": "newcomer", "item": "space-2", "kind": "purchase"},
    ]}, content_type="application/json")
    assert response.json()["created"] == 2
    body = operator_client.get(RECS.format("newcomer") + "?k=5").json()
    assert body["strategy"] == "content" and body["history_items"] == 2
    assert not {"space-1", "space-2"} & {row["item"] for row in body["items"]}
    assert all(row["because"] in {"space-1", "space-2"} for row in body["items"])


@pytest.mark.parametrize("query, message", [
    ("?k=0", "k must be between 1 and 100, not 0"),
    ("?k=101", "k must be between 1 and 100, not 101"),
    ("?k=ten", "k must be a whole number"),
    ("?diversity=2", "diversity must be between 0 and 1"),
    ("?category=Westerns", "unknown category 'Westerns'"),
])
def test_bad_query_parameters_are_named(operator_client, shop, query, message):
    response = operator_client.get(RECS.format("user-1") + query)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_filters_and_diversity(operator_client, trained):
    body = operator_client.get(RECS.format("user-0") + "?k=6&category=Cooking&exclude=cooking-0,cooking-7").json()
    ids = [row["item"] for row in body["items"]]
    assert ids and all(i.startswith("cooking-") for i in ids) and not {"cooking-0", "cooking-7"} & set(ids)
    operator_client.post("/api/v1/recommendation/items/", [
        {"id": "space-5", "title": "The comet (space)", "description": "A space story about a comet.",
         "categories": ["Space"], "is_active": False}], content_type="application/json")
    varied = operator_client.get(RECS.format("user-0") + "?k=20&diversity=0.8").json()
    assert "space-5" not in [row["item"] for row in varied["items"]]  # inactive items are never served


def test_similar_items(operator_client, trained):
    body = operator_client.get("/api/v1/recommendation/items/crime-1/similar/?k=3").json()
    assert len(body["items"]) == 3 and "crime-1" not in [row["item"] for row in body["items"]]
    assert all("“The inspector (crime)”" in row["reason"] for row in body["items"])
    assert operator_client.get("/api/v1/recommendation/items/nope/similar/").status_code == 404


def test_item_batch_upserts_and_rejects_row_by_row(operator_client, db):
    response = operator_client.post("/api/v1/recommendation/items/", {"items": [
        {"id": "a", "title": "Alpha", "categories": ["Letters"]},
        {"id": "b"},
        {"id": "c", "title": "Gamma", "categories": "Letters"},
        {"id": "a", "title": "Alpha again"},
    ]}, content_type="application/json")
    body = response.json()
    assert response.status_code == 200 and body["created"] == 1
    assert [(r["index"], sorted(r["errors"])) for r in body["rejected"]] == [(1, ["title"]), (2, ["categories"]), (3, ["id"])]
    assert Job.objects.filter(kind="recommendation.embed_items").count() == 1
    again = operator_client.post("/api/v1/recommendation/items/", [{"id": "a", "title": "Alpha", "categories": ["Letters"]},
                                                                  {"id": "z", "title": "Zed"}],
                                 content_type="application/json").json()
    assert (again["unchanged"], again["created"]) == (1, 1)


def test_malformed_events_are_rejected_per_event_and_the_good_ones_kept(operator_client, shop):
    before = Interaction.objects.count()
    response = operator_client.post("/api/v1/recommendation/events/", {"events": [
        {"user": "u-new", "item": "crime-1", "kind": "view", "event_id": "once"},
        {"user": "u-new", "item": "crime-2", "kind": "teleport"},
        {"user": "u-new", "item": "no-such-item", "kind": "view"},
        {"user": "u-new", "item": "crime-3", "kind": "rating"},
        {"user": "", "item": "crime-3", "kind": "like", "timestamp": "yesterday"},
        "not an object",
        {"user": "u-new", "item": "crime-4", "kind": "purchase", "value": 2, "timestamp": 1700000000},
        {"user": "u-new", "item": "crime-1", "kind": "view", "event_id": "once"},
    ]}, content_type="application/json")
    body = response.json()
    assert response.status_code == 200 and body["created"] == 2 and body["duplicates"] == 1
    errors = {r["index"]: r["errors"] for r in body["rejected"]}
    assert set(errors) == {1, 2, 3, 4, 5}
    assert "kind" in errors[1] and "unknown item 'no-such-item'" in errors[2]["item"]
    assert errors[3] == {"value": "a rating needs its value"}
    assert set(errors[4]) == {"user", "timestamp"}
    assert Interaction.objects.count() == before + 2
    assert EndUser.objects.filter(external_id="u-new").exists()


def test_a_batch_that_is_not_a_list_or_too_long_stores_nothing(operator_client, db):
    assert operator_client.post("/api/v1/recommendation/events/", {"events": "x"},
                                content_type="application/json").status_code == 400
    too_many = [{"id": str(n), "title": "t"} for n in range(1001)]
    response = operator_client.post("/api/v1/recommendation/items/", too_many, content_type="application/json")
    assert response.status_code == 400 and "at most 1000" in response.json()["detail"]
    assert not Item.objects.exists()
    only_bad = operator_client.post("/api/v1/recommendation/users/", [{"id": ""}], content_type="application/json")
    assert only_bad.status_code == 400 and only_bad.json()["rejected"][0]["errors"] == {"id": "required: a non-empty string"}


def test_roles(client, operator_client, admin_client, outsider_client, shop):
    urls = [RECS.format("user-1"), "/api/v1/recommendation/items/crime-1/similar/"]
    for url in urls:
        assert outsider_client.get(url).status_code == 403
        not_signed_in = client.get(url)  # and no key: asked for one
        assert not_signed_in.status_code == 401 and not_signed_in["WWW-Authenticate"].startswith("Bearer")
    for url in ("/api/v1/recommendation/items/", "/api/v1/recommendation/events/", "/api/v1/recommendation/users/"):
        assert outsider_client.post(url, [], content_type="application/json").status_code == 403
        assert operator_client.post(url, [], content_type="application/json").status_code == 200
    assert operator_client.post("/api/v1/recommendation/retrain/").status_code == 403
    response = admin_client.post("/api/v1/recommendation/retrain/")
    assert response.status_code == 202
    assert Job.objects.get(pk=response.json()["job"]).kind == "recommendation.train_recommender"


def _key_client(*scopes: str) -> tuple[APIClient, ApiKey]:
    key, plain = api_key_create(name="shop backend", scopes=scopes)
    # Like a server: no session, no CSRF cookie; the test client would refuse a session write without one.
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client, key


def test_a_recommendation_key_calls_the_batch_and_read_endpoints(trained):
    shop_backend, key = _key_client(ApiKey.Scope.RECOMMENDATION)
    items = shop_backend.post("/api/v1/recommendation/items/", {"items": [
        {"id": "space-9", "title": "The orbit (space)", "description": "A space story.", "categories": ["Space"]}]},
        format="json")
    assert items.status_code == 200 and items.json()["created"] == 1
    users = shop_backend.post("/api/v1/recommendation/users/", {"users": [{"id": "shopper-1"}]}, format="json")
    assert users.status_code == 200 and users.json()["created"] == 1
    events = shop_backend.post("/api/v1/recommendation/events/", {"events": [
        {"user": "shopper-1", "item": "crime-1", "kind": "like"}]}, format="json")
    assert events.status_code == 200 and events.json()["created"] == 1
    assert Interaction.objects.filter(user__external_id="shopper-1", item__external_id="crime-1").exists()

    recommended = shop_backend.get(RECS.format("user-0") + "?k=3")
    assert recommended.status_code == 200 and len(recommended.json()["items"]) == 3
    similar = shop_backend.get("/api/v1/recommendation/items/crime-1/similar/?k=2")
    assert similar.status_code == 200 and len(similar.json()["items"]) == 2
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None
    # Retraining is for admins in a session, whatever the key.
    assert shop_backend.post("/api/v1/recommendation/retrain/").status_code == 403
    assert not Job.objects.filter(kind="recommendation.train_recommender", state="queued").exists()


def test_a_key_without_the_recommendation_scope_is_refused_with_403(shop):
    finance_only, _ = _key_client(ApiKey.Scope.FINANCE)
    response = finance_only.get(RECS.format("user-1"))
    assert response.status_code == 403
    assert response.json()["detail"] == "this API key does not have the 'recommendation' scope"
    before = Item.objects.count()
    response = finance_only.post("/api/v1/recommendation/items/", [{"id": "x", "title": "X"}], format="json")
    assert response.status_code == 403 and Item.objects.count() == before
    # And the other way round: a recommendation key cannot post finance documents.
    rec_only, _ = _key_client(ApiKey.Scope.RECOMMENDATION)
    response = rec_only.post("/api/v1/finance/documents/", [{"text": "Shares rose."}], format="json")
    assert response.status_code == 403 and "'finance' scope" in response.json()["detail"]


def test_a_revoked_or_unknown_key_is_refused_with_401(shop):
    shop_backend, key = _key_client(ApiKey.Scope.RECOMMENDATION)
    assert shop_backend.get(RECS.format("user-1")).status_code == 200
    api_key_revoke(key=key)
    for response in (shop_backend.get(RECS.format("user-1")),
                     shop_backend.post("/api/v1/recommendation/events/", [
                         {"user": "user-1", "item": "crime-1", "kind": "view"}], format="json")):
        assert response.status_code == 401 and response.json()["detail"] == "this API key was revoked"
        assert response["WWW-Authenticate"].startswith("Bearer")
    stranger = APIClient()
    stranger.credentials(HTTP_X_API_KEY="ak_made-up-key")
    response = stranger.get(RECS.format("user-1"))
    assert response.status_code == 401 and response.json()["detail"] == "unknown API key"
