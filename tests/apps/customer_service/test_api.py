"""The public chat API: happy path, the edge's refusals, idempotency keys, history, feedback."""
from __future__ import annotations

import pytest
from django.core.cache import cache

from apps.customer_service.models import Conversation, IdempotencyRecord, Message
from apps.customer_service.services.widget import widget_token_issue

from .conftest import ORIGIN, post_chat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()


def test_happy_path_answers_from_the_knowledge_base_and_stores_the_conversation(api, site, kb, intent_model):
    response = post_chat(api, site, "track my parcel please")
    assert response.status_code == 200, response.content
    body = response.json()
    reply = body["reply"]
    assert reply["source"] in ("template", "retrieval")
    assert reply["intent"] == "track_order"
    assert 0.0 <= reply["confidence"] <= 1.0
    assert reply["entries"] == [{"id": kb["track_order"], "title": "Where is my order?"}]
    assert "Order History" in reply["text"] and "{{" not in reply["text"]
    assert response["Access-Control-Allow-Origin"] == ORIGIN

    conversation = Conversation.objects.get(pk=body["conversation_id"])
    stored = list(conversation.messages.order_by("id").values_list("role", "text", "source", "entries"))
    assert stored == [("customer", "track my parcel please", "", []),
                      ("assistant", reply["text"], reply["source"], [kb["track_order"]])]
    assert Message.objects.get(pk=reply["id"]).model_version == intent_model.version

    # The same conversation goes on; the history lists both turns.
    again = post_chat(api, site, "I forgot my password", conversation_id=body["conversation_id"])
    assert again.json()["conversation_id"] == body["conversation_id"]
    history = api.get(f"/api/v1/chat/conversations/{body['conversation_id']}/",
                      {"site_key": site.public_key}, HTTP_ORIGIN=ORIGIN).json()
    assert [m["role"] for m in history["messages"]] == ["customer", "assistant", "customer", "assistant"]
    after = api.get(f"/api/v1/chat/conversations/{body['conversation_id']}/",
                    {"site_key": site.public_key, "after": reply["id"]}, HTTP_ORIGIN=ORIGIN).json()
    assert next(m["text"] for m in after["messages"]) == "I forgot my password"


def test_unknown_site_key_is_refused(api, site):
    response = api.post("/api/v1/chat/", {"site_key": "site_nope", "text": "hi"}, format="json", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 403
    assert response.json() == {"detail": "unknown or disabled site key"}
    site.is_active = False
    site.save()
    assert post_chat(api, site, "hi").status_code == 403


def test_wrong_or_missing_origin_is_refused(api, site):
    response = post_chat(api, site, "hello", origin="https://evil.example")
    assert response.status_code == 403
    assert "https://evil.example is not allowed" in response.json()["detail"]
    assert "Access-Control-Allow-Origin" not in response
    # A near miss is a miss: another port, another scheme.
    assert post_chat(api, site, "hello", origin="https://shop.example:8443").status_code == 403
    assert post_chat(api, site, "hello", origin="http://shop.example").status_code == 403
    missing = post_chat(api, site, "hello", origin=None)
    assert missing.status_code == 403 and "no Origin header" in missing.json()["detail"]
    assert not Message.objects.exists()


def test_the_widget_token_carries_the_embedding_origin(api, site, kb):
    token = widget_token_issue(site=site, origin=ORIGIN)
    ok = post_chat(api, site, "where is my order", origin=None, HTTP_X_WIDGET_TOKEN=token)
    assert ok.status_code == 200
    assert "Access-Control-Allow-Origin" not in ok  # same-origin frame: no CORS needed
    # Removing the origin from the site takes effect at once, token or not.
    site.allowed_origins = "http://localhost:3000"
    site.save()
    assert post_chat(api, site, "hello", origin=None, HTTP_X_WIDGET_TOKEN=token).status_code == 403
    other = site.__class__.objects.create(name="Other", allowed_origins=ORIGIN)
    assert post_chat(api, other, "hello", origin=None, HTTP_X_WIDGET_TOKEN=token).status_code == 403
    forged = post_chat(api, site, "hello", origin=None, HTTP_X_WIDGET_TOKEN=token[:-3] + "abc")
    assert forged.status_code == 403 and forged.json()["detail"] == "invalid widget token"


def test_over_the_rate_limit_per_ip_and_per_site(api, site, kb):
    site.rate_limit_per_ip = "3/m"
    site.save()
    codes = [post_chat(api, site, f"hello {i}").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = post_chat(api, site, "hello again")
    assert "too many requests from this visitor" in limited.json()["detail"]
    assert int(limited["Retry-After"]) > 0
    # Another visitor is fine until the site's own budget runs out.
    site.rate_limit_per_ip, site.rate_limit_per_site = "100/m", "5/m"
    site.save()
    cache.clear()
    codes = [post_chat(api, site, f"hi {i}", REMOTE_ADDR=f"10.0.0.{i}").status_code for i in range(6)]
    assert codes == [200] * 5 + [429]


@pytest.mark.parametrize("text, message", [
    ("", "This field may not be blank."),
    ("   ", "This field may not be blank."),
    ("x" * 10_000, "Ensure this field has no more than 2000 characters."),
])
def test_empty_or_huge_text_is_refused(api, site, text, message):
    response = post_chat(api, site, text)
    assert response.status_code == 400
    assert response.json() == {"text": [message]}
    assert not Message.objects.exists()


def test_bad_json_is_refused_with_a_reason(api, site):
    response = api.post("/api/v1/chat/", data='{"site_key": "x", "text": ', content_type="application/json",
                        HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    listed = api.post("/api/v1/chat/", data="[1, 2]", content_type="application/json", HTTP_ORIGIN=ORIGIN)
    assert listed.status_code == 400 and listed.json()["detail"] == "the body must be a JSON object"
    unknown = post_chat(api, site, "hi", conversation_id="4b9a4d6e-2f1c-4c4e-9a52-2d5f6b1e0c11")
    assert unknown.status_code == 404 and unknown.json()["detail"] == "unknown conversation for this site"


def test_duplicate_idempotency_key_replays_the_first_response(api, site, kb):
    first = post_chat(api, site, "where is my order", HTTP_IDEMPOTENCY_KEY="key-1")
    second = post_chat(api, site, "where is my order", HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Message.objects.filter(role="customer").count() == 1
    conflict = post_chat(api, site, "something else", HTTP_IDEMPOTENCY_KEY="key-1")
    assert conflict.status_code == 422
    assert "different request" in conflict.json()["detail"]
    # A key whose first request is still running is refused, not run twice.
    IdempotencyRecord.objects.create(scope=f"{site.public_key}:chat", key="key-2",
                                     request_hash=IdempotencyRecord.objects.get(key="key-1").request_hash)
    running = post_chat(api, site, "where is my order", HTTP_IDEMPOTENCY_KEY="key-2")
    assert running.status_code == 409


def test_feedback_and_handoff_requests(api, site, kb):
    reply = post_chat(api, site, "how do I get a refund").json()
    feedback = api.post("/api/v1/chat/feedback/", {"site_key": site.public_key, "message_id": reply["reply"]["id"],
                                                   "conversation_id": reply["conversation_id"], "helpful": False},
                        format="json", HTTP_ORIGIN=ORIGIN)
    assert feedback.status_code == 200 and feedback.json()["feedback"] == "not_helpful"
    question = Message.objects.get(pk=reply["message_id"])
    assert question.needs_review and question.embedding is not None
    wrong = api.post("/api/v1/chat/feedback/", {"site_key": site.public_key, "message_id": reply["message_id"],
                                                "conversation_id": reply["conversation_id"], "helpful": True},
                     format="json", HTTP_ORIGIN=ORIGIN)
    assert wrong.status_code == 404  # a customer message is not a reply

    handoff = api.post("/api/v1/chat/handoff/", {"site_key": site.public_key,
                                                 "conversation_id": reply["conversation_id"]},
                       format="json", HTTP_ORIGIN=ORIGIN)
    assert handoff.status_code == 200
    assert handoff.json()["status"] == "waiting" and handoff.json()["reply"]["source"] == "handoff"
    # While a person handles it, messages are kept for them and the assistant stays quiet.
    waiting = post_chat(api, site, "hello? anyone", conversation_id=reply["conversation_id"]).json()
    assert waiting["reply"] is None and waiting["status"] == "waiting"


def test_cors_preflight_and_schema(api, site, client):
    allowed = api.options("/api/v1/chat/", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert allowed.status_code == 204 and allowed["Access-Control-Allow-Origin"] == ORIGIN
    assert "Idempotency-Key" in allowed["Access-Control-Allow-Headers"]
    refused = api.options("/api/v1/chat/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in refused
    schema = client.get("/api/schema/").content.decode()
    for path in ("/api/v1/chat/", "/api/v1/chat/feedback/", "/api/v1/chat/handoff/",
                 "/api/v1/chat/conversations/{conversation_id}/"):
        assert path in schema
    assert "Idempotency-Key" in schema


def test_the_widget_frame_is_served_only_to_allowed_origins(client, site, tiny_backbone):
    frame = client.get("/customer-service/widget/frame/", {"key": site.public_key, "origin": "https://SHOP.example/"})
    assert frame.status_code == 200
    # The site-wide policy (django-csp), with only the allowed page as a frame ancestor.
    policy = frame["Content-Security-Policy"].split("; ")
    assert f"frame-ancestors {ORIGIN}" in policy and "script-src 'self'" in policy
    assert "X-Frame-Options" not in frame
    page = frame.content.decode()
    assert f'data-parent-origin="{ORIGIN}"' in page and 'data-token="' in page
    for query in ({"key": site.public_key, "origin": "https://evil.example"}, {"key": "nope", "origin": ORIGIN}):
        refused = client.get("/customer-service/widget/frame/", query)
        assert refused.status_code == 403 and 'data-token="' not in refused.content.decode()
        # Only the page that asked may frame the refusal, which says why (tests/apps/customer_service/
        # test_widget_refusal.py); the browser then shows no broken frame.
        assert f"frame-ancestors {query['origin']}" in refused["Content-Security-Policy"].split("; ")


def test_a_chat_request_stays_lean(api, site, kb, intent_model, django_assert_max_num_queries):
    """Models and index are loaded once per process; a message costs a handful of queries."""
    post_chat(api, site, "where is my order")  # loads the encoder, the model and the index
    # New conversation: the site, the conversation and two messages (+ the transaction).
    with django_assert_max_num_queries(6):
        body = post_chat(api, site, "I forgot my password").json()
    # Going on: the site, the conversation, the previous question (asked again?), two messages, the
    # conversation's update (+ the transaction).
    with django_assert_max_num_queries(8):
        post_chat(api, site, "track my parcel please", conversation_id=body["conversation_id"])


def test_a_running_shadow_sees_every_understood_message_and_review_labels_are_its_truth(api, site, kb, intent_model):
    from apps.core.models import ShadowPrediction
    from apps.core.services import shadow
    from apps.customer_service.models import Message
    from apps.customer_service.serving import SCENARIO

    from .conftest import train_intent_version

    assert post_chat(api, site, "where is my order").status_code == 200  # no shadow: nothing recorded
    assert not ShadowPrediction.objects.exists()
    candidate = train_intent_version(activate=False)
    deployment = shadow.shadow_start(candidate=candidate)
    shadow.shadow_cache_clear()
    for text in ("where is my order", "I forgot my password", "I want my money back"):
        assert post_chat(api, site, text).status_code == 200
    recorded = ShadowPrediction.objects.filter(deployment=deployment).order_by("pk")
    assert recorded.count() == 3 and all(p.active_version_id == intent_model.pk for p in recorded)
    first = Message.objects.get(pk=int(recorded[0].subject.rsplit(":", 1)[1]))
    assert first.role == Message.Role.CUSTOMER and recorded[0].active_label == first.intent
    Message.objects.filter(pk=first.pk).update(labelled_intent="track_order")
    assert shadow.shadow_score_pending(deployment_id=deployment.pk) == 3
    report = shadow.shadow_comparison(deployment=deployment)
    # The candidate is trained the same way on the same knowledge base: it agrees everywhere.
    assert report["n"] == 3 and report["agreement"] == 1.0 and report["labelled"]["n"] == 1
    assert SCENARIO == deployment.scenario


@pytest.fixture
def int8_encoder(settings):
    """The chat on the int8 ONNX export of the (tiny) encoder; set before the KB is embedded."""
    from apps.customer_service.serving import assistant_reset

    settings.CUSTOMER_SERVICE_ENCODER = "onnx-int8"
    assistant_reset()
    yield
    assistant_reset()


def test_the_chat_runs_on_the_int8_onnx_encoder(int8_encoder, settings, api, site, kb, intent_model):
    from django.core.exceptions import ImproperlyConfigured

    from apps.customer_service.models import KBExample
    from apps.customer_service.serving import embedding_model_name, serving_encoder
    from ml_core.serving.onnx_backend import OnnxSentenceEncoder

    assert isinstance(serving_encoder(), OnnxSentenceEncoder) and serving_encoder().variant == "int8"
    # The knowledge base was embedded with the encoder that understands the messages.
    assert set(KBExample.objects.values_list("embedding_model", flat=True)) == {embedding_model_name()}
    assert embedding_model_name().endswith("(onnx-int8)")
    reply = post_chat(api, site, "where is my order").json()["reply"]
    assert reply["intent"] == "track_order" and reply["source"] == "template"
    settings.CUSTOMER_SERVICE_ENCODER = "int4"
    with pytest.raises(ImproperlyConfigured, match="CUSTOMER_SERVICE_ENCODER must be one of torch, onnx, onnx-int8"):
        serving_encoder()
