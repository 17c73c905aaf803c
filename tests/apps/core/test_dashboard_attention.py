"""The dashboard says what needs a person: customers waiting, open alerts, jobs failed in the last
24 hours, model versions the activation policy left to a person; each a count and a link."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.models import ActivationDecision, Job, ModelVersion
from apps.core.selectors import attention_list, versions_awaiting_decision
from apps.core.services.jobs import job_create

pytestmark = pytest.mark.django_db


def version(scenario: str, number: int, *, active: bool = False, decision: str = "", age_h: float = 0):
    created = ModelVersion.objects.create(scenario=scenario, version=number, artifact_path=f"{scenario}/v{number}",
                                          sha256="0" * 64, is_active=active, activation_decision=decision)
    ModelVersion.objects.filter(pk=created.pk).update(created_at=timezone.now() - timedelta(hours=age_h))
    return created


def counts() -> dict[str, int]:
    return {item.key: item.count for item in attention_list()}


def test_nothing_waits_on_a_fresh_install():
    assert counts() == {"customers_waiting": 0, "open_alerts": 0, "failed_jobs": 0, "versions_waiting": 0}


def test_each_kind_of_waiting_work_is_counted(admin_user):
    from apps.customer_service.models import Conversation, Site
    from apps.finance_sentiment.models import Alert, AlertRule

    site = Site.objects.create(name="Shop", allowed_origins="https://shop.example")
    Conversation.objects.create(site=site, status=Conversation.Status.WAITING)
    Conversation.objects.create(site=site, status=Conversation.Status.WAITING)
    Conversation.objects.create(site=site, status=Conversation.Status.BOT)
    now = timezone.now()
    Alert.objects.create(rule=AlertRule.objects.create(name="surge"), series="all", metric="negative_share",
                         granularity="hour", window_start=now, window_end=now, observed=0.9, expected=0.2, sigma=0.1,
                         z=7.0, volume=20, negative=18, peak_observed=0.9, message="surge", last_seen_at=now)
    recent, old, running = (job_create(kind="test.work") for _ in range(3))
    Job.objects.filter(pk=recent.pk).update(state=Job.State.FAILED, finished_at=now - timedelta(hours=2))
    Job.objects.filter(pk=old.pk).update(state=Job.State.FAILED, finished_at=now - timedelta(hours=30))
    Job.objects.filter(pk=running.pk).update(state=Job.State.RUNNING)
    # Left to a person and newer than the active version: waits. Older than it, or decided: does not.
    version("a.model", 1, decision=ActivationDecision.MANUAL, age_h=5)
    version("a.model", 2, active=True, age_h=3)
    waiting = version("a.model", 3, decision=ActivationDecision.MANUAL, age_h=1)
    version("a.model", 4, decision=ActivationDecision.REFUSE)
    fresh = version("b.model", 1, decision=ActivationDecision.MANUAL)  # no active version yet

    assert {v.pk for v in versions_awaiting_decision()} == {waiting.pk, fresh.pk}
    assert counts() == {"customers_waiting": 2, "open_alerts": 1, "failed_jobs": 1, "versions_waiting": 2}


def test_the_dashboard_links_each_count_to_where_it_is_handled(operator_client, admin_user):
    recent = job_create(kind="test.work", title="Nightly work")
    Job.objects.filter(pk=recent.pk).update(state=Job.State.FAILED, finished_at=timezone.now())
    html = operator_client.get(reverse("home")).content.decode()
    assert "Needs attention" in html
    assert f'href="{reverse("customer_service:conversation_list")}?status=waiting"' in html
    assert f'href="{reverse("finance_sentiment:alert_list")}?state=open"' in html
    assert f'href="{reverse("job_list")}?state=failed"><span class="attention-count">1</span> job failed in the last ' \
           "24 hours</a>" in html
    assert f'href="{reverse("registry")}"><span class="attention-count">0</span> model versions waiting' in html
    # The recent jobs table names jobs by their title, not by their machine kind.
    assert "Nightly work" in html and "test.work" not in html
