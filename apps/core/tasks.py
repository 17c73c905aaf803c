"""Celery entry points of the core app. Thin: they call services."""
from celery import shared_task
from django.conf import settings

from ml_core.backbone import encoder_check, select_device

from .demo import DEMO_SENTENCES
from .services.jobs import JobOutcome, jobs_fail_stale, jobs_resend_lost
from .tasking import job_task


@job_task("core.encoder_check", queue="inference")
def encoder_check_job(job, progress) -> JobOutcome:
    """Load the configured encoder and measure embedding throughput on the demo sentences."""
    rounds = int(job.params.get("rounds", 8))
    backbone = job.params.get("backbone") or settings.ML_BACKBONE
    texts = DEMO_SENTENCES * max(1, rounds)
    device = select_device(settings.ML_DEVICE, settings.ML_CPU_THREADS)
    metrics = encoder_check(texts, backbone=backbone, device=device, batch_size=8, progress=progress)
    return JobOutcome(
        metrics=metrics,
        message=f"Embedded {metrics['texts']} texts at {metrics['texts_per_s']} texts/s on {metrics['device']}",
    )


@shared_task(name="core.fail_stale_jobs")
def fail_stale_jobs() -> int:
    """Periodic (beat): jobs whose worker died are marked failed instead of running forever."""
    return jobs_fail_stale()


@shared_task(name="core.resend_lost_jobs")
def resend_lost_jobs() -> int:
    """Periodic (beat): queued jobs whose message was lost are sent again (a duplicate does nothing)."""
    return jobs_resend_lost()


@job_task("core.train_classifier", queue="training")
def train_classifier_job(job, progress) -> JobOutcome:
    """Train a new version of a classifier scenario; activate it when the scenario's rule allows."""
    from .services.classifiers import classifier_train

    return classifier_train(job=job, progress=progress)


@job_task("core.tune_classifier", queue="training")
def tune_classifier_job(job, progress) -> JobOutcome:
    """Hyperparameter search for a classifier scenario: every trial's figures, nothing activated."""
    from .services.classifiers import classifier_tune

    return classifier_tune(job=job, progress=progress)


@job_task("core.evaluate_robustness", queue="training")
def evaluate_robustness_job(job, progress) -> JobOutcome:
    """Accuracy of a classifier version under perturbations and a word-substitution attack."""
    from .services.robustness import robustness_evaluate

    return robustness_evaluate(job=job, progress=progress)


@job_task("core.compress_model", queue="training")
def compress_model_job(job, progress) -> JobOutcome:
    """ONNX export, int8 quantization, pruning or distillation of a classifier version; promote within the guardrail."""
    from .services.compression import model_compress

    return model_compress(job=job, progress=progress)


@shared_task(name="core.shadow_score")
def shadow_score(deployment_id: int) -> int:
    """Score the live inputs a shadow deployment's candidate has not seen yet (inference queue)."""
    from .services.shadow import shadow_score_pending

    return shadow_score_pending(deployment_id=deployment_id)


@shared_task(name="core.shadow_sweep")
def shadow_sweep() -> int:
    """Periodic (beat): score what a lost shadow_score task left waiting."""
    from .services.shadow import shadow_sweep as sweep

    return sweep()


@job_task("core.apply_retention", queue="inference")
def apply_retention_job(job, progress) -> JobOutcome:
    """Delete stored data past its retention age, kind by kind; each deletion is audited."""
    from .services.retention import retention_job_run

    return retention_job_run(job=job, progress=progress)


@shared_task(name="core.retention_daily")
def retention_daily() -> str:
    """Periodic (beat): start the retention job, once a day."""
    from .services.retention import retention_job_start

    return str(retention_job_start().pk)
