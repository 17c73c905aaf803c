"""Item embeddings: the job that embeds new or changed catalogue items with the shared encoder."""
from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.models import Job
from apps.core.services.jobs import JobOutcome, job_start
from ml_core.progress import ProgressCallback, no_progress
from ml_core.recsys import item_text

from .. import selectors
from ..models import Item
from ..scenario import SCENARIO

# The Celery task (apps/recommendation/tasks.py), queued by name: services never import tasks.
EMBED_ITEMS = "recommendation.embed_items"



def _encoder_name() -> str:
    return settings.ML_BACKBONE


def items_embed(*, progress: ProgressCallback = no_progress, batch_size: int = 64) -> int:
    """Embed every item whose embedding is missing or came from another encoder. Returns how many."""
    from apps.core.services.encoders import shared_encoder
    from ml_core.backbone import encode_texts

    backbone = _encoder_name()
    pending = list(selectors.items_needing_embeddings(backbone=backbone))
    if not pending:
        progress(100.0, "every item is embedded")
        return 0
    progress(1.0, f"loading the encoder for {len(pending)} items")
    encoder = shared_encoder(backbone)
    done = 0
    for start in range(0, len(pending), 256):
        chunk = pending[start:start + 256]
        vectors = encode_texts(encoder, [item_text(i.title, i.description, i.category_names) for i in chunk],
                               batch_size=batch_size)
        now = timezone.now()
        with transaction.atomic():
            for item, vector in zip(chunk, vectors):
                # Only if the text is still the one embedded (an update may have raced us).
                Item.objects.filter(pk=item.pk, updated_at=item.updated_at).update(
                    embedding=np.asarray(vector, dtype=np.float32).tobytes(), embedding_backbone=backbone,
                    embedded_at=now)
        done += len(chunk)
        progress(100.0 * done / len(pending), f"embedded {done}/{len(pending)} items")
    return done


def items_embed_start(*, created_by=None) -> Job | None:
    """Queue an embedding job unless one is already waiting (it will pick up these items too)."""
    if Job.objects.filter(kind=EMBED_ITEMS, state=Job.State.QUEUED).exists():
        return None
    return job_start(task=EMBED_ITEMS, title="Embed new catalogue items", scenario=SCENARIO,
                     created_by=created_by)


def items_embed_run(*, job: Job, progress) -> JobOutcome:
    """The embedding job's work: embed catalogue items that are new or whose text changed."""
    count = items_embed(progress=progress)
    return JobOutcome(metrics={"embedded": count}, message=f"Embedded {count} item(s)")
