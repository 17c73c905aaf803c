"""The knowledge base's embedding job: `kb_embed_start` queues it, `kb_embed_run` does the work."""
from __future__ import annotations

from apps.core.models import Job
from apps.core.services.jobs import JobOutcome, job_start

from .kb import kb_embed_pending

EMBED_KNOWLEDGE_BASE = "customer_service.embed_knowledge_base"  # apps/customer_service/tasks.py


def kb_embed_start(*, created_by=None) -> Job:
    """Queue the vectors of new or changed entries and questions (after an import)."""
    return job_start(task=EMBED_KNOWLEDGE_BASE, title="Embed the knowledge base", created_by=created_by)


def kb_embed_run(*, job: Job, progress) -> JobOutcome:
    done = kb_embed_pending(progress=progress)
    return JobOutcome(metrics={"embedded": done}, message=f"Embedded {done} texts; the knowledge search has them")
