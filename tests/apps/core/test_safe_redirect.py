"""`next` only leads back into this site (issue 15: open redirect through `next`).

The helper on its own, then every view that reads `next`: model activation (here), the alert
acknowledgement (here), the console's label and teach forms (tests/apps/customer_service).
"""
from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.core.safe_redirect import redirect_next, safe_next_url
from apps.core.services.registry import BuiltArtifact, model_version_activate, model_version_create

# Each of these would take the browser to another site (or run script) if followed.
OFFSITE = ["https://evil.example/", "//evil.example", "/\\evil.example", "\\\\evil.example",
           "javascript:alert(1)", "JavaScript:alert(1)", " https://evil.example/", "http:evil.example",
           "https:///evil.example", "data:text/html,<script>alert(1)</script>"]


@pytest.mark.parametrize("wanted", OFFSITE)
def test_offsite_targets_fall_back_to_the_default(wanted):
    for request in (RequestFactory().post("/x/", {"next": wanted}), RequestFactory().get("/x/", {"next": wanted})):
        assert safe_next_url(request, "registry") == reverse("registry")
        assert redirect_next(request, "job_detail", job_id="0f0f0f0f-0000-4000-8000-000000000000")["Location"] \
            == reverse("job_detail", args=["0f0f0f0f-0000-4000-8000-000000000000"])


def test_same_site_targets_are_kept():
    factory = RequestFactory()
    assert safe_next_url(factory.post("/x/", {"next": "/customer-service/review/?page=2"}), "registry") \
        == "/customer-service/review/?page=2"
    assert safe_next_url(factory.post("/x/", {"next": "http://testserver/jobs/"}), "registry") == "http://testserver/jobs/"
    assert safe_next_url(factory.post("/x/"), "/fallback/") == "/fallback/"


def test_an_https_page_never_hands_over_to_plain_http():
    secure = RequestFactory().post("/x/", {"next": "http://testserver/jobs/"}, secure=True)
    assert safe_next_url(secure, "registry") == reverse("registry")
    secure = RequestFactory().post("/x/", {"next": "https://testserver/jobs/"}, secure=True)
    assert safe_next_url(secure, "registry") == "https://testserver/jobs/"


def _version(payload: str):
    def build(folder):
        (folder / "w.txt").write_text(payload)
        return BuiltArtifact(metrics={"accuracy": 0.5})

    return model_version_create(scenario="tests.redirects", build=build)


@pytest.mark.django_db
@pytest.mark.parametrize("wanted", ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"])
def test_model_activation_ignores_an_offsite_next(admin_client, wanted):
    v1, v2 = _version("a"), _version("b")
    model_version_activate(version=v2)
    response = admin_client.post(reverse("model_version_activate", args=[v1.pk]), {"next": wanted})
    assert response.status_code == 302 and response["Location"] == reverse("registry")
    v1.refresh_from_db()
    assert v1.is_active  # the action itself still happened
    back = admin_client.post(reverse("model_version_activate", args=[v2.pk]),
                             {"next": f"/models/{v2.pk}/"})
    assert back["Location"] == f"/models/{v2.pk}/"


@pytest.mark.django_db
@pytest.mark.parametrize("wanted", ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"])
def test_alert_acknowledgement_ignores_an_offsite_next(operator_client, wanted):
    from apps.finance_sentiment.models import Alert, AlertRule

    now = timezone.now()
    alert = Alert.objects.create(
        rule=AlertRule.objects.create(name="surge"), series="all", metric="negative_share", granularity="hour",
        window_start=now, window_end=now, observed=0.9, expected=0.2, sigma=0.1, z=7.0, volume=20, negative=18,
        peak_observed=0.9, message="negative news surge", last_seen_at=now)
    url = reverse("finance_sentiment:alert_acknowledge", args=[alert.pk])
    response = operator_client.post(url, {"next": wanted})
    assert response.status_code == 302
    assert response["Location"] == reverse("finance_sentiment:alert_detail", args=[alert.pk])
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    kept = operator_client.post(url, {"next": "/finance/alerts/?state=open"})
    assert kept["Location"] == "/finance/alerts/?state=open"
