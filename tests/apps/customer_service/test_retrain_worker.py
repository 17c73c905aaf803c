"""Retraining in a real Celery worker: the suite's classifier job trains the intent model from the
knowledge base and labelled history, the activation policy decides on it, and the chat serves it."""
from __future__ import annotations

import pytest

from apps.core.models import Job, ModelVersion
from apps.customer_service.models import Site
from apps.customer_service.services.chat import chat_message_handle
from apps.customer_service.services.training import intent_retrain_start
from apps.customer_service.serving import SCENARIO, assistant
from tests.conftest import run_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _finished(job: Job) -> Job:
    job.refresh_from_db()
    return job if job.is_finished else None


def test_retraining_job_trains_activates_and_serves(kb, admin_user, tiny_encoder_path):
    site = Site.objects.create(name="Shop", allowed_origins="https://shop.example")
    # The test knowledge base holds out one question per intent: enough only once the policy asks for one.
    with run_worker(extra_env={"ML_BACKBONE": str(tiny_encoder_path), "ACTIVATION_MIN_EVAL_PER_CLASS": "1"}) as worker:
        first = intent_retrain_start(created_by=admin_user)
        wait_for(lambda: _finished(first), timeout=180, what=f"the training job\n{worker.log()[-2000:]}")
        assert first.state == Job.State.SUCCEEDED, first.error
        assert first.result["activated"] and first.result["activation"].startswith("Activated: no version was active")
        version = ModelVersion.objects.get(scenario=SCENARIO, is_active=True)
        assert version.pk == first.result["model_version_id"]
        summary = version.training_data_summary
        assert (summary["train"]["n"], summary["valid"]["n"]) == (16, 4)  # 20 questions, 1 per intent to validate
        assert summary["train"]["source"] == "customer service knowledge base + labelled history"

        assistant().intent_models.invalidate()
        reply = chat_message_handle(site=site, text="where is my order")["reply"]
        assert reply["intent"] and 0 <= reply["confidence"] <= 1

        second = intent_retrain_start(created_by=admin_user)
        wait_for(lambda: _finished(second), timeout=180, what="the second training job")
    assert second.state == Job.State.SUCCEEDED, second.error
    # The same data and seed train the same model, but 4 identical answers cannot show it is no worse
    # within ACTIVATION_MARGIN: it is kept, inactive, and v1 goes on serving.
    assert not second.result["activated"], second.result["activation"]
    assert "not shown to be no worse than the active v1 on the same 4 texts" in second.result["activation"]
    assert ModelVersion.objects.get(scenario=SCENARIO, is_active=True).pk == first.result["model_version_id"]
