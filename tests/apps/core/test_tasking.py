import pytest

from apps.core.tasking import job_task, routed_queue
from apps.core.tasks import encoder_check_job


def test_routes_by_task_name():
    assert routed_queue("customer_service.train_intent") == "training"
    assert routed_queue("finance_sentiment.retrain_sentiment") == "training"
    assert routed_queue("compression.compress_model") == "training"
    assert routed_queue("finance_sentiment.score_batch") == "inference"
    assert routed_queue("core.encoder_check") == "inference"


def test_a_task_whose_name_routes_elsewhere_is_refused():
    with pytest.raises(ValueError, match="routed to 'inference'"):
        job_task("demo.score_things", queue="training")
    with pytest.raises(ValueError, match="unknown queue"):
        job_task("demo.train_things", queue="gpu")


def test_training_tasks_have_long_limits_and_no_retries(settings):
    @job_task("tests.train_something", queue="training")
    def train(job, progress):
        return None

    assert train.time_limit == settings.CELERY_TRAINING_TIME_LIMIT_S
    assert train.soft_time_limit < train.time_limit
    assert not getattr(train, "autoretry_for", ())


def test_inference_tasks_retry_transient_errors_with_backoff():
    from django.db import OperationalError

    assert OperationalError in encoder_check_job.autoretry_for
    assert encoder_check_job.retry_backoff is True
    assert encoder_check_job.max_retries >= 3
