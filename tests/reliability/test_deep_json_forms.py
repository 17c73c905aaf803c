"""Staff forms with JSON fields (the console's site form, the back office's JSON fields) answer a
JSON body nested 100,000 deep with a form error, not a RecursionError 500 (issue 15, item 4)."""
import pytest

from apps.customer_service.models import AssistantSettings, Site
from apps.finance_sentiment.models import Topic
from apps.recommendation.models import Item

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


def _has_form_error(response) -> bool:
    return response.status_code == 200 and "valid JSON" in response.content.decode()


def test_the_console_site_form_refuses_deep_placeholder_values(admin_client):
    response = admin_client.post("/customer-service/sites/new/", {
        "name": "Shop", "allowed_origins": "https://shop.example", "is_active": "on", "greeting": "Hi",
        "placeholder_values": DEEP, "rate_limit_per_ip": 30, "rate_limit_per_site": 600})
    assert _has_form_error(response)
    assert not Site.objects.exists()


def test_the_console_settings_form_refuses_deep_handoff_intents(admin_client):
    from apps.customer_service.forms import SettingsForm

    form = SettingsForm(data={"handoff_intents": DEEP}, instance=AssistantSettings())
    assert not form.is_valid()
    assert form.errors["handoff_intents"] == ["not a JSON list"]


@pytest.mark.parametrize("url, fields, model", [
    ("/admin/recommendation/item/add/", {"external_id": "x1", "title": "A film", "attributes": DEEP}, Item),
    ("/admin/finance_sentiment/topic/add/", {"name": "Rates", "keywords": DEEP, "examples": "[]",
                                              "similarity_threshold": "0.5", "is_active": "on"}, Topic),
])
def test_back_office_json_fields_refuse_deep_json(admin_client, url, fields, model):
    before = model.objects.count()
    response = admin_client.post(url, fields)
    assert _has_form_error(response), response.status_code
    assert model.objects.count() == before


def test_shallow_json_still_saves_in_the_back_office(admin_client):
    response = admin_client.post("/admin/recommendation/item/add/",
                                 {"external_id": "x2", "title": "Another film", "attributes": '{"year": 1999}'})
    assert response.status_code == 302
    assert Item.objects.get(external_id="x2").attributes == {"year": 1999}
