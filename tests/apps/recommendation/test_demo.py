"""The demo's first recommender goes live by the activation policy, on enough test users."""
from io import StringIO

import pytest
from celery import current_app

from apps.core.models import Job, ModelVersion
from apps.core.services.jobs import job_run
from apps.recommendation.demo import DEMO_CUSTOMERS, demo_customers, seed_demo_content
from apps.recommendation.services import SCENARIO


def test_the_demo_has_enough_customers_for_the_policy(settings):
    customers = demo_customers()
    assert set(DEMO_CUSTOMERS) < set(customers) and len(customers) > settings.ACTIVATION_MIN_EVAL_USERS
    assert customers == demo_customers()  # deterministic


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the job's heartbeat thread writes too
def test_the_first_recommender_is_activated_by_the_policy_not_by_request():
    seed_demo_content(stdout=StringIO())
    job = Job.objects.get(kind="recommendation.train_recommender")
    assert "activate" not in job.params
    job_run(job_id=job.pk, work=current_app.tasks[job.kind].work, worker="test")
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    version = ModelVersion.objects.get(scenario=SCENARIO)
    assert version.is_active and version.activation_decision == "activate", version.activation_reason
    size = next(c for c in version.activation_evidence["checks"] if c["name"] == "evaluation_size")
    assert size["passed"] is True, size
