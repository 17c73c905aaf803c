"""Celery entry points of the core app: each is one line that calls a service.

Services queue these by name (`job_start(task="core.train_classifier")`) and never import this
module, so imports run one way: tasks -> services (issue 19).
"""
from celery import shared_task

from .services.classifiers import classifier_training_run, classifier_tuning_run
from .services.compression import compression_run
from .services.distillation import distillation_run
from .services.encoder_check import encoder_check_run
from .services.jobs import JobOutcome, jobs_fail_stale, jobs_resend_lost
from .services.retention import retention_job_run, retention_job_start
from .services.robustness import robustness_evaluation_run
from .services.shadow import shadow_score_pending
from .services.shadow import shadow_sweep as shadow_sweep_run
from .tasking import job_task


@job_task("core.encoder_check", queue="inference")
def encoder_check_job(job, progress) -> JobOutcome:
    """Load the configured encoder and measure embedding throughput on the demo sentences."""
    return encoder_check_run(job=job, progress=progress)


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
    return classifier_training_run(job=job, progress=progress)


@job_task("core.train_distilled_classifier", queue="training")
def train_distilled_classifier_job(job, progress) -> JobOutcome:
    """Distil a classifier scenario's model from a stronger teacher into a new version (issue 20)."""
    return distillation_run(job=job, progress=progress)


@job_task("core.tune_classifier", queue="training")
def tune_classifier_job(job, progress) -> JobOutcome:
    """Hyperparameter search for a classifier scenario: every trial's figures, nothing activated."""
    return classifier_tuning_run(job=job, progress=progress)


@job_task("core.evaluate_robustness", queue="training")
def evaluate_robustness_job(job, progress) -> JobOutcome:
    """Accuracy of a classifier version under perturbations and a word-substitution attack."""
    return robustness_evaluation_run(job=job, progress=progress)


@job_task("core.compress_model", queue="training")
def compress_model_job(job, progress) -> JobOutcome:
    """ONNX export, int8 quantization, pruning or distillation of a classifier version; promote within the guardrail."""
    return compression_run(job=job, progress=progress)


@shared_task(name="core.shadow_score")
def shadow_score(deployment_id: int) -> int:
    """Score the live inputs a shadow deployment's candidate has not seen yet (inference queue)."""
    return shadow_score_pending(deployment_id=deployment_id)


@shared_task(name="core.shadow_sweep")
def shadow_sweep() -> int:
    """Periodic (beat): score what a lost shadow_score task left waiting."""
    return shadow_sweep_run()


@job_task("core.apply_retention", queue="inference")
def apply_retention_job(job, progress) -> JobOutcome:
    """Delete stored data past its retention age, kind by kind; each deletion is audited."""
    return retention_job_run(job=job, progress=progress)


@shared_task(name="core.retention_daily")
def retention_daily() -> str:
    """Periodic (beat): start the retention job, once a day."""
    return str(retention_job_start().pk)
