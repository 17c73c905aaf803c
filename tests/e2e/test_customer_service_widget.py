"""The widget on a plain page of ANOTHER origin: a customer asks, gets the answer, asks for a
person; an operator takes the conversation in the console (a second browser) and replies; the
customer sees the reply in the widget. The assistant runs on the tiny random encoder."""
from __future__ import annotations

import http.server
import threading

import pytest
from playwright.sync_api import expect

from apps.customer_service.models import Message, Site
from apps.customer_service.services.kb import EntryFields, kb_entry_create
from apps.customer_service.serving import assistant_reset
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class _Page(http.server.BaseHTTPRequestHandler):
    html = b""

    def do_GET(self):  # the name http.server calls
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args):
        pass


@pytest.fixture
def other_origin_page():
    """A plain HTML page served by a second HTTP server (another port: another origin)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Page,), {}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_widget_on_another_origin_answers_hands_over_and_shows_the_operators_reply(
        browser, page, live_server, operator_user, other_origin_page, settings, tiny_encoder_path):
    settings.ML_BACKBONE = str(tiny_encoder_path)
    assistant_reset()
    kb_entry_create(fields=EntryFields.clean(title="Where is my order?", intent="track_order",
                                             answer="Follow your parcel under Order History."),
                    questions=["where is my order", "track my parcel"])
    kb_entry_create(fields=EntryFields.clean(title="Refunds", intent="get_refund",
                                             answer="Refunds reach your card within five days."),
                    questions=["I want my money back", "how do I get a refund"])
    shop_origin = f"http://127.0.0.1:{other_origin_page.server_address[1]}"
    site = Site.objects.create(name="Shop", allowed_origins=shop_origin, greeting="Hi! Ask me anything.")
    other_origin_page.RequestHandlerClass.html = (
        "<!doctype html><html><head><title>Shop</title></head><body><h1>Our shop</h1>"
        f'<script src="{live_server.url}/static/widget/loader.js" data-site-key="{site.public_key}" '
        'data-context=\'{"Order Number": "A-1"}\' async></script></body></html>').encode()
    assert not live_server.url.startswith(shop_origin)

    # The customer, on the shop's page.
    page.goto(shop_origin + "/")
    page.click("#ai-suite-chat-bubble")
    chat = page.frame_locator("#ai-suite-chat-frame")
    expect(chat.locator(".msg-assistant").first).to_have_text("AssistantHi! Ask me anything.")
    chat.locator("#chat-input").fill("where is my order")
    chat.locator("#chat-input").press("Enter")
    answer = chat.locator(".msg-assistant").nth(1)
    expect(answer).to_contain_text("Follow your parcel under Order History.")
    expect(answer.locator(".msg-sources")).to_have_text("From: Where is my order?")
    answer.get_by_role("button", name="Helpful", exact=True).click()
    expect(answer.locator("button.chosen")).to_have_text("Helpful")
    # The vote names the widget's conversation, so the server records it on that reply.
    voted = Message.objects.get(role="assistant", feedback="helpful")
    assert voted.text == "Follow your parcel under Order History." and voted.conversation.site == site

    chat.locator("#chat-person").click()
    expect(chat.locator("#chat-status")).to_contain_text("A colleague will join shortly")

    # The operator, in another browser context, takes the conversation from the queue and replies.
    console = browser.new_context(viewport={"width": 1280, "height": 900})
    operator = console.new_page()
    operator.set_default_timeout(30_000)
    login(operator, live_server, operator_user.username, "pw-oscar-operator")
    operator.goto(f"{live_server.url}/customer-service/")
    queue = operator.locator("#cs-queue")
    expect(queue).to_contain_text("where is my order")
    queue.locator("button", has_text="Take").click()
    expect(operator.locator("#cs-transcript")).to_contain_text("Follow your parcel under Order History.")
    operator.fill("#cs-reply-form textarea", "Hello, I am Oscar. Your parcel leaves today.")
    operator.click("#cs-reply-form button[type=submit]")
    expect(operator.locator("#cs-transcript")).to_contain_text("Your parcel leaves today.")
    console.close()

    reply = chat.locator(".msg-operator")
    expect(reply).to_contain_text("Hello, I am Oscar. Your parcel leaves today.", timeout=15_000)
    expect(chat.locator("#chat-status")).to_contain_text("You are talking with our support team")

    # The same frame refuses to serve a page that is not allowed to embed it (no token in it);
    # only that page may frame the refusal, which says why.
    refused = page.context.new_page()
    response = refused.goto(f"{live_server.url}/customer-service/widget/frame/?key={site.public_key}"
                            "&origin=https://evil.example")
    assert response.status == 403 and "data-token" not in refused.content()
    assert "frame-ancestors https://evil.example" in response.headers["content-security-policy"].split("; ")


def test_widget_on_a_page_the_site_does_not_allow_says_so_in_the_bubble_and_the_console(
        page, live_server, other_origin_page):
    """Issue 18: the site owner saw Chrome's grey broken frame and no hint of why."""
    shop_origin = f"http://127.0.0.1:{other_origin_page.server_address[1]}"
    site = Site.objects.create(name="Shop", allowed_origins="https://shop.example")
    other_origin_page.RequestHandlerClass.html = (
        "<!doctype html><html><head><title>Shop</title></head><body><h1>Our shop</h1>"
        f'<script src="{live_server.url}/static/widget/loader.js" data-site-key="{site.public_key}" async>'
        "</script></body></html>").encode()
    warnings = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    page.goto(shop_origin + "/")
    page.click("#ai-suite-chat-bubble")
    note = page.locator("#ai-suite-chat-refused")
    expect(note).to_have_text(f"Chat unavailable: {shop_origin} is not an allowed origin for this chat.")
    expect(page.locator("#ai-suite-chat-frame")).to_have_count(0)  # no broken frame left on the page
    expect(page.locator("#ai-suite-chat-bubble")).to_have_text("Chat unavailable")
    assert any(f"AI suite chat is not available on {shop_origin}" in w and "allowed origins" in w
               for w in warnings), warnings
    page.click("#ai-suite-chat-bubble")  # closing and opening again shows the note, no new frame
    page.click("#ai-suite-chat-bubble")
    expect(note).to_be_visible()
    expect(page.locator("#ai-suite-chat-frame")).to_have_count(0)
