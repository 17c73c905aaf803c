"""Celery entry points of customer service. Thin: they call services."""
from celery import shared_task

from apps.core.services.jobs import JobOutcome
from apps.core.tasking import job_task

from .services.kb import kb_embed_pending
from .services.widget import idempotency_purge


@job_task("customer_service.embed_knowledge_base", queue="inference")
def embed_knowledge_base_job(job, progress) -> JobOutcome:
    """Compute the vectors of new or changed entries and questions (after an import)."""
    done = kb_embed_pending(progress=progress)
    return JobOutcome(metrics={"embedded": done}, message=f"Embedded {done} texts; the knowledge search has them")


@shared_task(name="customer_service.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Periodic (beat): forget stored responses to idempotent writes after two days."""
    return idempotency_purge(older_than_hours=48)
