"""Celery entry points of customer service: each is one line that calls a service.

Services queue these by name (services.kb_jobs) and never import this module (issue 19).
"""
from celery import shared_task

from apps.core.services.jobs import JobOutcome
from apps.core.tasking import job_task

from .services.kb_jobs import EMBED_KNOWLEDGE_BASE, kb_embed_run
from .services.widget import idempotency_purge


@job_task(EMBED_KNOWLEDGE_BASE, queue="inference")
def embed_knowledge_base_job(job, progress) -> JobOutcome:
    """Compute the vectors of new or changed entries and questions (after an import)."""
    return kb_embed_run(job=job, progress=progress)


@shared_task(name="customer_service.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Periodic (beat): forget stored responses to idempotent writes after two days."""
    return idempotency_purge(older_than_hours=48)
