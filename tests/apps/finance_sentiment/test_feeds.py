"""Feed polling against a real HTTP server on 127.0.0.1: a valid feed (then 304 on a conditional
GET), malformed XML, an HTML page, 404 and a timeout, with the error state and back-off; feed URLs
that point inside the network, refused when saved and when polled.

Loopback is refused like any internal address, so the tests allow-list 127.0.0.1/32
(OUTBOUND_HTTP_ALLOWED_NETWORKS) as an admin would for an intranet feed, except where they check
the refusal."""
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.finance_sentiment.models import Document, Feed
from apps.finance_sentiment.services.feeds import feed_poll, feeds_claim_due

from .http_server import Answer, ScriptedServer

pytestmark = pytest.mark.django_db

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Wire</title><language>en-us</language>
<item><title>Lender books higher loan-loss provisions</title><link>https://wire.example.com/1</link>
  <description>&lt;p&gt;The regional lender &lt;b&gt;fell&lt;/b&gt; 8 percent after it disclosed provisions.&lt;/p&gt;</description>
  <pubDate>Fri, 01 Mar 2024 10:15:00 GMT</pubDate></item>
<item><title>Brewery keeps its dividend</title><link>https://wire.example.com/2</link>
  <pubDate>Fri, 01 Mar 2024 11:00:00 +0100</pubDate></item>
</channel></rss>"""


@pytest.fixture
def server(settings):
    settings.OUTBOUND_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with ScriptedServer() as running:
        yield running


def make_feed(server, path: str, **fields) -> Feed:
    return Feed.objects.create(name=f"Feed {path}", url=server.base_url + path, poll_interval_s=600, **fields)


def test_a_valid_feed_is_ingested_then_a_conditional_get_finds_nothing_new(server):
    server.answers["/rss"] = [
        Answer(200, RSS, {"Content-Type": "application/rss+xml", "ETag": '"v1"',
                          "Last-Modified": "Fri, 01 Mar 2024 11:00:00 GMT"}),
        Answer(304),
    ]
    feed = make_feed(server, "/rss")
    result = feed_poll(feed_id=feed.pk)
    assert result.outcome == "new" and result.entries == 2 and result.batch.accepted == 2
    first = Document.objects.get(url="https://wire.example.com/1")
    assert first.title == "Lender books higher loan-loss provisions"
    assert first.text == "The regional lender fell 8 percent after it disclosed provisions."  # HTML stripped
    assert first.source == feed.name and first.language == "en-us" and first.feed_id == feed.pk
    assert first.published_at.isoformat() == "2024-03-01T10:15:00+00:00"
    second = Document.objects.get(url="https://wire.example.com/2")
    assert second.text == "Brewery keeps its dividend"  # no summary: the title stands in
    assert second.published_at.isoformat() == "2024-03-01T10:00:00+00:00"
    feed.refresh_from_db()
    assert (feed.status, feed.etag, feed.consecutive_failures, feed.documents_added) == ("ok", '"v1"', 0, 2)
    assert feed.next_poll_at - feed.last_polled_at == timedelta(seconds=600)

    again = feed_poll(feed_id=feed.pk)
    assert again.outcome == "not modified" and again.http_status == 304
    assert server.requests[-1].headers["if-none-match"] == '"v1"'
    assert server.requests[-1].headers["if-modified-since"] == "Fri, 01 Mar 2024 11:00:00 GMT"
    assert Document.objects.count() == 2


def test_a_feed_without_conditional_get_does_not_duplicate(server):
    server.answers["/rss"] = [Answer(200, RSS, {"Content-Type": "application/rss+xml"})]
    feed = make_feed(server, "/rss")
    feed_poll(feed_id=feed.pk)
    result = feed_poll(feed_id=feed.pk)
    assert result.outcome == "nothing new" and Document.objects.count() == 2


@pytest.mark.parametrize("answer, message", [
    (Answer(200, b"<?xml version='1.0'?><rss><channel><item><title>broken", {"Content-Type": "application/rss+xml"}),
     "not well-formed XML"),
    (Answer(200, b"this is not xml <<<", {"Content-Type": "application/xml"}), "not well-formed XML"),
    (Answer(200, b"<html><body>Welcome</body></html>", {"Content-Type": "text/html"}),
     "not an RSS or Atom feed (content type text/html)"),
    (Answer(404, b"gone"), "HTTP 404 Not Found"),
    (Answer(503, b"busy"), "HTTP 503 Service Unavailable"),
])
def test_broken_feeds_record_the_error_and_back_off(server, answer, message):
    server.answers["/feed"] = [answer]
    feed = make_feed(server, "/feed")
    for failures in (1, 2, 3):
        result = feed_poll(feed_id=feed.pk)
        assert result.outcome == "error" and message in result.error
        feed.refresh_from_db()
        assert feed.status == "error" and message in feed.last_error and feed.consecutive_failures == failures
        # Back-off: the interval times 2^failures.
        assert (feed.next_poll_at - feed.last_polled_at).total_seconds() == 600 * 2 ** failures
    assert Document.objects.count() == 0
    # Recovery resets the failure count and the interval.
    server.answers["/feed"] = [Answer(200, RSS, {"Content-Type": "application/rss+xml"})]
    assert feed_poll(feed_id=feed.pk).outcome == "new"
    feed.refresh_from_db()
    assert (feed.status, feed.consecutive_failures, feed.last_error) == ("ok", 0, "")


def test_a_slow_feed_times_out(server, settings):
    settings.FINANCE_FEED_TIMEOUT_S = 0.3
    server.answers["/slow"] = [Answer(200, RSS, delay_s=1.5)]
    feed = make_feed(server, "/slow")
    result = feed_poll(feed_id=feed.pk)
    assert result.outcome == "error"
    assert result.error == f"could not fetch {feed.url}: timed out (no complete answer within 0.3 s)"
    feed.refresh_from_db()
    assert feed.status == "error" and feed.consecutive_failures == 1


def test_back_off_is_capped_and_a_truncated_feed_keeps_what_it_recovers(server, settings):
    settings.FINANCE_FEED_MAX_BACKOFF_S = 1800
    server.answers["/gone"] = [Answer(410, b"")]
    feed = make_feed(server, "/gone", consecutive_failures=6)
    feed_poll(feed_id=feed.pk)
    feed.refresh_from_db()
    assert (feed.next_poll_at - feed.last_polled_at).total_seconds() == 1800

    truncated = RSS[: RSS.index(b"<item><title>Brewery")] + b"<item><title>Brew"
    server.answers["/cut"] = [Answer(200, truncated, {"Content-Type": "application/rss+xml"})]
    cut = make_feed(server, "/cut")
    result = feed_poll(feed_id=cut.pk)
    assert result.outcome == "new" and result.batch.accepted == 1 and "malformed XML" in result.warning
    cut.refresh_from_db()
    assert cut.status == "ok" and "entries recovered" in cut.last_error


def test_due_feeds_are_claimed_once(server):
    now = timezone.now()
    due = make_feed(server, "/a")
    later = make_feed(server, "/b", next_poll_at=now + timedelta(minutes=5))
    paused = make_feed(server, "/c", is_active=False)
    assert feeds_claim_due(now=now) == [due.pk]
    assert feeds_claim_due(now=now) == []  # claimed: a second beat does not poll it again
    assert later.pk and paused.pk


# --- SSRF: feed URLs that point inside the network (issue 15) -----------------------------------------

INTERNAL_FEED_URLS = ["http://169.254.169.254/latest/meta-data/", "http://localhost:6379/", "http://[::1]:8020/",
                      "ftp://127.0.0.1/x", "http://2130706433/", "http://0x7f.1/", "http://127.1/",
                      "http://[::ffff:127.0.0.1]/", "http://10.1.2.3/rss", "http://user:pw@93.184.216.34/rss"]


@pytest.mark.parametrize("url", INTERNAL_FEED_URLS)
def test_a_feed_url_inside_the_network_is_refused_when_saved(operator_client, admin_client, url):
    response = operator_client.post("/finance/feeds/", {"name": "Inside", "url": url, "poll_interval_s": "600",
                                                        "is_active": "on"})
    assert response.status_code == 200 and response.context["form"].errors["url"]
    response = admin_client.post("/admin/finance_sentiment/feed/add/", {
        "name": "Inside", "url": url, "poll_interval_s": "600", "is_active": "on", "status": "new",
        "consecutive_failures": "0", "documents_added": "0"})
    assert response.status_code == 200 and response.context["adminform"].form.errors["url"]
    assert not Feed.objects.exists()


def test_the_refusal_names_the_rule_and_a_public_feed_is_saved(operator_client):
    response = operator_client.post("/finance/feeds/", {"name": "Inside", "url": "http://localhost:6379/",
                                                        "poll_interval_s": "600"})
    assert response.context["form"].errors["url"] == [(
        "The address is not allowed (private, loopback, link-local or reserved); an admin can allow an intranet "
        "server.")]
    response = operator_client.post("/finance/feeds/", {"name": "Wire", "url": "https://93.184.216.34/rss",
                                                        "poll_interval_s": "600"})
    assert response.status_code == 302 and Feed.objects.get().url == "https://93.184.216.34/rss"


@pytest.mark.parametrize("url", INTERNAL_FEED_URLS)
def test_a_feed_url_inside_the_network_is_refused_when_polled(url):
    feed = Feed.objects.create(name="Inside", url=url, poll_interval_s=600)  # e.g. stored before the check existed
    result = feed_poll(feed_id=feed.pk)
    assert result.outcome == "error" and result.error.startswith(f"could not fetch {url}: ")
    feed.refresh_from_db()
    assert feed.status == "error" and feed.consecutive_failures == 1 and Document.objects.count() == 0


def test_a_redirect_into_the_network_is_refused_and_nothing_is_stored(server):
    with ScriptedServer(host="127.0.0.2") as inside:  # loopback too, but not allow-listed (127.0.0.1/32)
        inside.answers["/admin"] = [Answer(200, RSS, {"Content-Type": "application/rss+xml"})]
        internal = inside.base_url + "/admin"
        server.answers["/rss"] = [Answer(302, b"", {"Location": internal})]
        feed = make_feed(server, "/rss")
        result = feed_poll(feed_id=feed.pk)
        assert result.error == f"could not fetch {feed.url}: a redirect leads to an address that is not allowed"
        assert inside.requests == [] and Document.objects.count() == 0


def test_poll_errors_say_nothing_about_internal_ports(settings):
    settings.OUTBOUND_HTTP_ALLOWED_NETWORKS = []
    with ScriptedServer() as running:  # an open port on loopback
        open_feed = make_feed(running, "/rss")
        closed_feed = Feed.objects.create(name="Closed", url="http://127.0.0.1:1/rss", poll_interval_s=600)
        errors = [feed_poll(feed_id=f.pk).error.split(": ", 1)[1] for f in (open_feed, closed_feed)]
        assert running.requests == []
    assert errors[0] == errors[1] == "the address is not allowed (private, loopback, link-local or reserved)"


def test_poll_now_refuses_a_paused_feed(server, operator_client):
    server.answers["/rss"] = [Answer(200, RSS, {"Content-Type": "application/rss+xml"})]
    paused = make_feed(server, "/rss", is_active=False)
    response = operator_client.post(f"/finance/feeds/{paused.pk}/poll/", follow=True)
    assert b"is paused: activate it to poll it" in response.content
    paused.refresh_from_db()
    assert paused.next_poll_at is None  # not made due either
    # A poll queued before the feed was paused does nothing.
    assert feed_poll(feed_id=paused.pk).outcome == "paused" and server.requests == []
    assert b"Poll now" not in operator_client.get("/finance/feeds/").content
