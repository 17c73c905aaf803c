"""The widget's frame on a page the site does not allow (issue 18, item 6): instead of the browser's
grey broken frame, the refusal page may be framed by the page that asked, says why, and tells the
widget (loader.js) through postMessage to that page's exact origin; nothing else can be framed."""
import pytest

from apps.customer_service.models import Site
from apps.customer_service.services.widget import widget_frame_refusal

pytestmark = pytest.mark.django_db

FRAME = "/customer-service/widget/frame/"


@pytest.fixture
def shop():
    return Site.objects.create(name="Shop", allowed_origins="https://shop.example")


def test_the_refusal_says_why_and_may_be_framed_only_by_the_page_that_asked(client, shop):
    refused = client.get(FRAME, {"key": shop.public_key, "origin": "https://Other.example:8443/"})
    assert refused.status_code == 403 and refused["Cache-Control"] == "no-store"
    policy = refused["Content-Security-Policy"].split("; ")
    assert "frame-ancestors https://other.example:8443" in policy and "script-src 'self'" in policy
    page = refused.content.decode()
    assert 'data-parent-origin="https://other.example:8443"' in page
    assert "Chat unavailable: https://other.example:8443 is not an allowed origin for this chat." in page
    assert "/static/widget/widget.js" in page and 'data-token="' not in page


@pytest.mark.parametrize("origin", ["", "null", "javascript:alert(1)", "https://a.example;script-src *",
                                    "https://a.example/path", "https://a b.example", "https://a.example:99999"])
def test_an_origin_that_is_not_one_is_framed_by_nobody(client, shop, origin):
    refused = client.get(FRAME, {"key": shop.public_key, "origin": origin})
    assert refused.status_code == 403
    policy = refused["Content-Security-Policy"].split("; ")
    assert "frame-ancestors 'none'" in policy and not any("script-src *" in d for d in policy)
    assert 'data-parent-origin=""' in refused.content.decode()


def test_an_unknown_key_says_so(shop):
    refusal = widget_frame_refusal(site=None, origin="https://shop.example")
    assert (refusal.reason, refusal.parent_origin) == ("the site key is unknown or disabled", "https://shop.example")
    assert widget_frame_refusal(site=shop, origin="https://shop.example") is None
