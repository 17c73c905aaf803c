"""Writes of the recommendation app, one module per concern:

- batches: what the catalogue and event batches share (BatchResult, BatchError, the row checks);
- catalogue: items and end users, upserted in batches by external id;
- events: interaction events, recorded in batches;
- movielens: the all-or-nothing MovieLens 100K import;
- embeddings: embedding new or changed items (the embed_items job);
- training: training the recommender and the jobs that start it (train_recommender, nightly).

The public names are re-exported here, so callers write `services.items_upsert(...)`.
"""
from __future__ import annotations

from ..scenario import SCENARIO
from .batches import MAX_BATCH, BatchError, BatchResult, import_chunk_rows
from .catalogue import items_upsert, users_upsert
from .embeddings import EMBED_ITEMS, items_embed, items_embed_run, items_embed_start
from .events import interactions_record
from .movielens import ImportSummary, movielens_import
from .training import (
    TRAIN_RECOMMENDER,
    TRAINING_EVALUATED_MODELS,
    job_outcome_for,
    recommender_nightly_start,
    recommender_retrain_start,
    recommender_train,
    recommender_training_refusal,
    recommender_training_run,
)

__all__ = [
    "EMBED_ITEMS", "MAX_BATCH", "SCENARIO", "TRAINING_EVALUATED_MODELS", "TRAIN_RECOMMENDER", "BatchError",
    "BatchResult", "ImportSummary", "import_chunk_rows", "interactions_record", "items_embed", "items_embed_run",
    "items_embed_start", "items_upsert", "job_outcome_for", "movielens_import", "recommender_nightly_start",
    "recommender_retrain_start", "recommender_train", "recommender_training_refusal", "recommender_training_run",
    "users_upsert",
]
