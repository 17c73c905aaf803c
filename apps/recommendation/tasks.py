"""Celery entry points of the recommendation app: each is one line that calls a service.

Services queue these by name (services.TRAIN_RECOMMENDER, services.EMBED_ITEMS) and never import
this module, so imports run one way: tasks -> services (issue 19).
"""
from celery import shared_task

from apps.core.services.jobs import JobOutcome
from apps.core.tasking import job_task

from . import services


@job_task(services.TRAIN_RECOMMENDER, queue="training")
def train_recommender_job(job, progress) -> JobOutcome:
    """Evaluate every model, tune the hybrid, fit it on all data and register the version."""
    return services.recommender_training_run(job=job, progress=progress)


@job_task(services.EMBED_ITEMS, queue="inference")
def embed_items_job(job, progress) -> JobOutcome:
    """Embed catalogue items that are new or whose text changed, so they can be recommended."""
    return services.items_embed_run(job=job, progress=progress)


@shared_task(name="recommendation.nightly_retrain")
def nightly_retrain() -> str:
    """Beat: queue the nightly training job (the activation policy decides on its version)."""
    job = services.recommender_nightly_start()
    return str(job.pk) if job is not None else ""
