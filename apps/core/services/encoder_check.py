"""The encoder check job: load the configured encoder and measure its embedding throughput."""
from __future__ import annotations

from django.conf import settings

from ..demo import DEMO_SENTENCES
from ..models import Job
from .jobs import JobOutcome, job_start

TASK = "core.encoder_check"


def encoder_check_start(*, created_by=None, rounds: int = 8) -> Job:
    """Queue `core.encoder_check` (inference queue)."""
    return job_start(task=TASK, title="Encoder check", params={"rounds": rounds}, created_by=created_by)


def encoder_check_run(*, job: Job, progress) -> JobOutcome:
    """Load the configured encoder and measure embedding throughput on the demo sentences."""
    from ml_core.backbone import encoder_check, select_device

    rounds = int(job.params.get("rounds", 8))
    backbone = job.params.get("backbone") or settings.ML_BACKBONE
    texts = DEMO_SENTENCES * max(1, rounds)
    device = select_device(settings.ML_DEVICE, settings.ML_CPU_THREADS)
    metrics = encoder_check(texts, backbone=backbone, device=device, batch_size=8, progress=progress)
    return JobOutcome(
        metrics=metrics,
        message=f"Embedded {metrics['texts']} texts at {metrics['texts_per_s']} texts/s on {metrics['device']}",
    )
