"""Celery entry points of the recommendation app. Thin: they call services."""
from celery import shared_task

from apps.core.services.jobs import JobOutcome
from apps.core.tasking import job_task

from . import services


@job_task("recommendation.train_recommender", queue="training")
def train_recommender_job(job, progress) -> JobOutcome:
    """Evaluate every model, tune the hybrid, fit it on all data and register the version."""
    version, message = services.recommender_train(params=job.params, created_by=job.created_by, job=job,
                                                  progress=progress)
    return services.job_outcome_for(version, message)


@job_task("recommendation.embed_items", queue="inference")
def embed_items_job(job, progress) -> JobOutcome:
    """Embed catalogue items that are new or whose text changed, so they can be recommended."""
    count = services.items_embed(progress=progress)
    return JobOutcome(metrics={"embedded": count}, message=f"Embedded {count} item(s)")


@shared_task(name="recommendation.nightly_retrain")
def nightly_retrain() -> str:
    """Beat: queue the nightly training job (the activation policy decides on its version)."""
    from ml_core.errors import UserError

    try:
        job = services.recommender_retrain_start(params={"activate": "if_better"})
    except UserError as exc:  # e.g. no interactions yet: nothing to train, say so in the log
        services.log.info("nightly recommender training skipped: %s", exc)
        return ""
    return str(job.pk)
