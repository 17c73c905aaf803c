"""The operator console: who may see and do what, CSRF on forms, and each page doing its job."""
from __future__ import annotations

import io

import pytest
from django.test import Client

from apps.core.models import Job
from apps.customer_service.models import AssistantSettings, Conversation, KBEntry, Message, Site
from apps.customer_service.services.chat import chat_message_handle

pytestmark = pytest.mark.django_db

OPERATOR_PAGES = ["/customer-service/", "/customer-service/conversations/", "/customer-service/review/",
                  "/customer-service/kb/", "/customer-service/kb/new/", "/customer-service/kb/import/",
                  "/customer-service/kb/export.csv", "/customer-service/analytics/", "/customer-service/sites/"]
ADMIN_PAGES = ["/customer-service/settings/", "/customer-service/sites/new/"]


@pytest.fixture
def conversation(site, kb) -> Conversation:
    result = chat_message_handle(site=site, text="where is my order")
    return Conversation.objects.get(pk=result["conversation_id"])


def test_pages_by_role(client, operator_client, admin_client, outsider_client, conversation, site):
    detail = f"/customer-service/conversations/{conversation.pk}/"
    for url in OPERATOR_PAGES + [detail, f"/customer-service/sites/{site.pk}/try/"]:
        assert operator_client.get(url).status_code == 200, url
        assert outsider_client.get(url).status_code == 403, url
        assert client.get(url).status_code == 302, url  # to the login page
    for url in ADMIN_PAGES:
        assert admin_client.get(url).status_code == 200, url
        assert operator_client.get(url).status_code == 403, url
    assert operator_client.post("/customer-service/retrain/").status_code == 403
    assert outsider_client.post(f"{detail}reply/", {"text": "hi"}).status_code == 403
    assert not Message.objects.filter(role="operator").exists()


def test_forms_need_the_csrf_token(admin_user, kb):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    entry = KBEntry.objects.get(pk=kb["track_order"])
    assert browser.post(f"/customer-service/kb/{entry.pk}/delete/").status_code == 403
    page = browser.get("/customer-service/kb/new/")
    token = page.cookies["csrftoken"].value
    created = browser.post("/customer-service/kb/new/", {
        "csrfmiddlewaretoken": token, "title": "Gift cards", "intent": "gift_card", "language": "en",
        "answer": "Gift cards never expire.", "questions": "do gift cards expire\nhow long is a voucher valid",
        "is_active": "on"})
    assert created.status_code == 302
    assert KBEntry.objects.get(intent="gift_card").examples.count() == 2


def test_knowledge_base_crud_in_the_console(operator_client, kb):
    entry = KBEntry.objects.get(pk=kb["get_refund"])
    edit = operator_client.post(f"/customer-service/kb/{entry.pk}/", {
        "title": "Refunds", "intent": "get_refund", "language": "en", "answer": "Refunds take 5 days.",
        "questions": "I want my money back\nrefund status", "tags": "money, Refund", "is_active": "on"})
    assert edit.status_code == 302
    entry.refresh_from_db()
    assert entry.answer == "Refunds take 5 days." and entry.tags == ["money", "refund"]
    assert sorted(entry.examples.values_list("text", flat=True)) == ["I want my money back", "refund status"]
    shown = operator_client.get(f"/customer-service/kb/{entry.pk}/").content.decode()
    assert 'value="get refund"' in shown  # the intent in words; saved as written it stays get_refund
    operator_client.post(f"/customer-service/kb/{entry.pk}/", {
        "title": "Refunds", "intent": "get refund", "language": "en", "answer": "Refunds take 5 days.",
        "questions": "I want my money back\nrefund status", "tags": "money, Refund", "is_active": "on"})
    entry.refresh_from_db()
    assert entry.intent == "get_refund"
    invalid = operator_client.post("/customer-service/kb/new/", {"intent": "bad (intent)", "answer": "x",
                                                                  "language": "en"})
    assert invalid.status_code == 200 and "may only hold letters" in invalid.content.decode()
    listed = operator_client.get("/customer-service/kb/", {"q": "money"}).content.decode()
    assert "Refunds" in listed and "Forgotten password" not in listed
    assert operator_client.post(f"/customer-service/kb/{entry.pk}/delete/").status_code == 302
    assert not KBEntry.objects.filter(pk=entry.pk).exists()
    exported = b"".join(operator_client.get("/customer-service/kb/export.jsonl").streaming_content).decode()
    assert '"intent": "track_order"' in exported


def test_console_import_names_the_bad_row_and_keeps_nothing(operator_client, kb):
    before = KBEntry.objects.count()
    upload = io.BytesIO(b"question,answer,intent\nHello,Hi there,greeting\nBye,,greeting\n")
    upload.name = "faq.csv"
    response = operator_client.post("/customer-service/kb/import/", {"file": upload, "format": "csv"})
    assert response.status_code == 200
    assert "Nothing was imported: faq.csv, row 3: field &#x27;answer&#x27;: the answer is empty" in \
        response.content.decode()
    assert KBEntry.objects.count() == before

    good = io.BytesIO(b"q,a,i\nHello,Hi there,greeting\n")
    good.name = "faq.csv"
    done = operator_client.post("/customer-service/kb/import/", {"file": good, "format": "csv",
                                                                 "columns": "question=q,answer=a,intent=i"})
    job = Job.objects.get(kind="customer_service.embed_knowledge_base")
    assert done.status_code == 302 and done["Location"] == f"/jobs/{job.pk}/"
    assert KBEntry.objects.filter(intent="greeting").exists()


def test_operator_takes_replies_labels_and_teaches(operator_client, conversation, kb):
    base = f"/customer-service/conversations/{conversation.pk}/"
    assert operator_client.post(f"{base}take/").status_code == 302
    operator_client.post(f"{base}reply/", {"text": "Let me check that for you, call 020 7946 0018"})
    conversation.refresh_from_db()
    assert conversation.status == "operator" and conversation.assigned_to.username == "oscar-operator"
    assert conversation.messages.get(role="operator").text == "Let me check that for you, call [PHONE]"
    page = operator_client.get(base, HTTP_HX_REQUEST="true").content.decode()
    assert "Let me check that for you" in page and "Add to knowledge base" in page

    question = conversation.messages.filter(role="customer").first()
    operator_client.post(f"/customer-service/messages/{question.pk}/label/", {"intent": "Track Order"})
    question.refresh_from_db()
    assert question.labelled_intent == "track_order"
    taught = operator_client.post("/customer-service/teach/", {
        "questions": str(question.pk), "entry": "", "new_intent": "order_check", "new_title": "Order check",
        "new_answer": "Let me check that for you."})
    assert taught.status_code == 302
    assert KBEntry.objects.get(intent="order_check").examples.get().text == "where is my order"
    operator_client.post(f"{base}release/")
    conversation.refresh_from_db()
    assert conversation.status == "bot" and conversation.assigned_to is None


def test_admin_settings_sites_and_retraining(admin_client, kb):
    saved = admin_client.post("/customer-service/settings/", {
        "answer_threshold": "0.6", "clarify_margin": "0.1", "retrieval_precision": "0.95",
        "handoff_intents": "contact_human_agent, complaint", "generation_max_tokens": "100",
        "open_intent_refusal_rate": "0.02", "open_intent_reply": "Not my field. I know about {{Topics}}."})
    assert saved.status_code == 302
    settings_row = AssistantSettings.objects.get()
    assert (settings_row.answer_threshold, settings_row.handoff_intents) == (0.6, ["contact_human_agent", "complaint"])
    shown = admin_client.get("/customer-service/settings/").content.decode()
    assert 'value="contact human agent, complaint"' in shown  # in words; saving them keeps the names
    admin_client.post("/customer-service/settings/", {
        "answer_threshold": "0.6", "clarify_margin": "0.1", "retrieval_precision": "0.95",
        "handoff_intents": "contact human agent, Complaint", "generation_max_tokens": "100",
        "open_intent_refusal_rate": "0.02", "open_intent_reply": "Not my field. I know about {{Topics}}."})
    settings_row.refresh_from_db()
    assert settings_row.handoff_intents == ["contact_human_agent", "complaint"]
    assert (settings_row.open_intent_refusal_rate, settings_row.open_intent_reply) == (
        0.02, "Not my field. I know about {{Topics}}.")
    refused = admin_client.post("/customer-service/settings/", {
        "answer_threshold": "1.5", "clarify_margin": "0.1", "retrieval_precision": "0.95",
        "generation_max_tokens": "100", "open_intent_refusal_rate": "0.7", "open_intent_reply": "x"})
    page = refused.content.decode()
    assert refused.status_code == 200 and "must be between 0 (exclusive) and 1" in page
    assert "must be between 0 and 0.5 (a share: 0.05 is 5 %)" in page

    created = admin_client.post("/customer-service/sites/new/", {
        "name": "Blog", "allowed_origins": "https://Blog.Example:443/\nhttp://localhost:8080",
        "is_active": "on", "greeting": "Hi", "placeholder_values": "{}", "rate_limit_per_ip": "10/m",
        "rate_limit_per_site": "100/m"})
    assert created.status_code == 302
    assert Site.objects.get(name="Blog").origin_list() == ["https://blog.example", "http://localhost:8080"]
    bad = admin_client.post("/customer-service/sites/new/", {
        "name": "Bad", "allowed_origins": "https://x.example/path", "greeting": "Hi", "placeholder_values": "{}",
        "rate_limit_per_ip": "ten", "rate_limit_per_site": "100/m"})
    assert "leave out the path" in bad.content.decode() and "write a rate" in bad.content.decode()

    queued = admin_client.post("/customer-service/retrain/")
    job = Job.objects.get(kind="core.train_classifier")
    assert queued["Location"] == f"/jobs/{job.pk}/" and job.scenario == "customer_service.intent"


def test_site_placeholder_values_are_written_one_per_line(admin_client):
    """The site form reads `Name = value` lines (and still a JSON object), shows the stored values
    as lines again, and explains a line it cannot read."""
    form = {"name": "Shop", "allowed_origins": "https://shop.example", "is_active": "on", "greeting": "Hi",
            "rate_limit_per_ip": "10/m", "rate_limit_per_site": "100/m"}
    created = admin_client.post("/customer-service/sites/new/", {
        **form, "placeholder_values": "Website Name = shop.example.com\n\nSupport Hours = 9-17 = weekdays\n"})
    assert created.status_code == 302
    site = Site.objects.get(name="Shop")
    assert site.placeholder_values == {"Website Name": "shop.example.com", "Support Hours": "9-17 = weekdays"}
    page = admin_client.get(f"/customer-service/sites/{site.pk}/").content.decode()
    assert "Website Name = shop.example.com\nSupport Hours = 9-17 = weekdays</textarea>" in page
    assert '{&quot;' not in page and "{&#x27;" not in page

    admin_client.post(f"/customer-service/sites/{site.pk}/", {**form, "placeholder_values": '{"Website Name": "a.example"}'})
    site.refresh_from_db()
    assert site.placeholder_values == {"Website Name": "a.example"}
    bad = admin_client.post(f"/customer-service/sites/{site.pk}/", {**form, "placeholder_values": "Website Name"})
    assert bad.status_code == 200 and "Write one placeholder per line as Name = value" in bad.content.decode()
    site.refresh_from_db()
    assert site.placeholder_values == {"Website Name": "a.example"}


def test_review_groups_similar_questions(operator_client, site, kb, monkeypatch):
    from apps.customer_service import selectors

    for text in ("my llama ate the parcel", "my llama ate the parcel", "zebra stripes on my invoice"):
        result = chat_message_handle(site=site, text=text)
        Message.objects.filter(pk=result["message_id"]).update(needs_review=True)
        from apps.customer_service.services.chat import _store_question_vector

        _store_question_vector(result["message_id"])
    groups = selectors.review_groups(distance=0.01)
    assert [g.size for g in groups] == [2, 1]
    page = operator_client.get("/customer-service/review/").content.decode()
    assert "my llama ate the parcel" in page and "zebra stripes on my invoice" in page
    ids = ",".join(str(q.pk) for q in groups[0].questions)
    operator_client.post("/customer-service/review/dismiss/", {"questions": ids})
    assert [g.size for g in selectors.review_groups(distance=0.01)] == [1]


def test_analytics_counts_containment_handoffs_and_feedback(operator_client, site, kb):
    assert 'id="cs-analytics-empty"' in operator_client.get("/customer-service/analytics/").content.decode()
    for text in ("where is my order", "how do I get a refund"):
        chat_message_handle(site=site, text=text)
    handed = chat_message_handle(site=site, text="I forgot my password")
    Conversation.objects.filter(pk=handed["conversation_id"]).update(handoff_at=handed and Conversation.objects.get(
        pk=handed["conversation_id"]).started_at)
    Message.objects.filter(pk=handed["reply"]["id"]).update(feedback="helpful")
    data = operator_client.get("/customer-service/analytics/", {"format": "json", "days": 7}).json()
    assert data["conversations"] == 3 and data["handoff_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert data["containment_rate"] == pytest.approx(2 / 3, abs=1e-3) and data["helpful_rate"] == 1.0
    assert len(data["series"]) == 7 and data["series"][-1]["conversations"] == 3
    page = operator_client.get("/customer-service/analytics/")
    assert page.status_code == 200
    # The charts name intents and reply sources in words; the JSON keeps the machine names.
    charted = [row["intent"] for row in page.context["chart_intents"]]
    assert charted == [row["intent"].replace("_", " ") for row in data["top_intents"]] and all("_" not in i for i in charted)
    assert set(page.context["chart_sources"]) == {dict(Message.Source.choices)[key] for key in data["sources"]}
    assert 'id="cs-analytics-empty"' not in page.content.decode()


def test_back_office_edits_the_knowledge_base_through_the_services(admin_client, kb):
    from apps.customer_service.serving import KnowledgeIndex

    index = KnowledgeIndex()
    index.sync(force=True)
    added = admin_client.post("/admin/customer_service/kbentry/add/", {
        "title": "Store hours", "intent": "store_hours", "answer": "9 to 5, Monday to Saturday.", "language": "en",
        "is_active": "on", "questions": "when do you open\nopening hours on saturday", "tags_text": "store",
        "examples-TOTAL_FORMS": "0", "examples-INITIAL_FORMS": "0"})
    assert added.status_code == 302, added.content.decode()[:2000]
    entry = KBEntry.objects.get(intent="store_hours")
    assert entry.examples.count() == 2 and entry.embedding is not None and entry.tags == ["store"]
    assert index.sync(force=True) and entry.pk in index.entries  # the revision moved: the index follows
    queued = admin_client.post("/admin/customer_service/assistantsettings/retrain/")
    assert queued.status_code == 302 and Job.objects.filter(kind="core.train_classifier").exists()
