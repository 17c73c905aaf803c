"""Training the recommender: evaluate every model, tune the hybrid, register the version, let the
activation policy decide; and the jobs that start it (the API, the admin, the dashboard, the nightly beat).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from django.utils import timezone

from apps.core.models import Job, ModelVersion
from apps.core.services.activation import activation_apply, activation_request, ranking_verdict
from apps.core.services.jobs import JobOutcome, job_start
from apps.core.services.registry import BuiltArtifact, model_version_create
from ml_core.errors import UserError
from ml_core.progress import ProgressCallback, no_progress, sub_progress
from ml_core.recsys import (
    EvaluationResult,
    Recommender,
    RecsysConfig,
    RecsysDataError,
    evaluate_models,
    stratified_split,
)

from .. import selectors
from ..models import Interaction
from ..scenario import SCENARIO
from .embeddings import _encoder_name, items_embed

log = logging.getLogger(__name__)

# The Celery task (apps/recommendation/tasks.py), queued by name: services never import tasks.
TRAIN_RECOMMENDER = "recommendation.train_recommender"

# The models evaluated (and shown side by side) each time the recommender is trained.
TRAINING_EVALUATED_MODELS = ("popularity", "item_knn", "als", "content", "hybrid")



def _summary_metrics(rows: list[dict], k: int) -> dict:
    by_model = {row["model"]: row for row in rows}
    hybrid = by_model.get("hybrid", {})
    headline = {key: hybrid[key] for key in ("map", f"ndcg@{k}", f"precision@{k}", f"recall@{k}",
                                              "coverage", "train_s") if key in hybrid}
    return {**headline, "models": by_model}


def _training_options(params: dict) -> tuple[str, RecsysConfig]:
    """(activation request, config) from a training job's params; a UserError names what is wrong."""
    params = dict(params)
    request = activation_request(params.pop("activate", "policy"))
    config = RecsysConfig.from_dict(params.pop("config", {}) or {})
    if params:
        raise UserError(f"unknown training parameter(s): {', '.join(sorted(params))}")
    return request, config


def recommender_train(*, params: dict | None = None, created_by=None, job: Job | None = None,
                      progress: ProgressCallback = no_progress) -> tuple[ModelVersion, str]:
    """Train the recommender on everything in the database and register it as a model version.

    1. embed items that lack embeddings; 2. evaluate every model under the protocol
    (stratified 75/25 split; the hybrid's weights tuned on a validation split of the 75);
    3. compare the new blend with the active version's blend, per test user, on the same fitted
    components; 4. fit the served bundle on all interactions with the new weights; 5. write the
    version; 6. let the activation policy decide (`activate`: policy (default, also "if_better"),
    never, or always: activate unless the policy refuses it).
    Returns the version and a sentence saying what happened to it.
    """
    request, config = _training_options(params or {})
    started = time.perf_counter()
    data_loaded_at = timezone.now()
    items_embed(progress=sub_progress(progress, 0, 20))
    interactions = selectors.training_interactions()
    if len(interactions) == 0:
        raise UserError("there are no interactions to learn from: import some (import_movielens) or post events")
    items, embeddings = selectors.catalogue_with_embeddings(backbone=_encoder_name())
    known = {i.item_id for i in items}
    interactions = interactions.subset(np.array([i in known for i in interactions.items.tolist()], dtype=bool))
    progress(22.0, f"{len(interactions)} interactions of {len(set(interactions.users.tolist()))} users, {len(items)} items")
    item_ids = [i.item_id for i in items]
    train, test = stratified_split(interactions, config.split_ratio, config.seed)
    evaluated, not_evaluated = True, ""
    try:
        result = evaluate_models(train, test, item_ids, embeddings, config, TRAINING_EVALUATED_MODELS,
                                 progress=sub_progress(progress, 22, 85))
        weights, rows = result.weights, result.rows
    except RecsysDataError as exc:
        # Too little data for a held-out evaluation (a fresh installation): serve with even weights.
        log.warning("no evaluation: %s", exc)
        evaluated, not_evaluated = False, str(exc)
        weights = {name: 0.25 for name in ("popularity", "item_knn", "als", "content")}
        rows = []
    active = ModelVersion.objects.filter(scenario=SCENARIO, is_active=True).first()
    comparison, active_error = None, ""
    if evaluated:
        progress(85.5, "comparing with the active version on the same test users")
        comparison, active_error = _blend_comparison(result, train=train, test=test, item_ids=item_ids,
                                                     weights=weights, active=active, k=config.k)
        if comparison is None:
            not_evaluated, active_error = active_error, ""
    progress(86.0, "fitting the served model on all interactions")
    metrics = _summary_metrics(rows, config.k) if evaluated else {"evaluated": False}
    metrics["weights"] = weights
    bundle = Recommender.fit(interactions, items, embeddings, weights, config, metrics)
    metrics["train_s"] = round(time.perf_counter() - started, 2)
    summary = {
        "interactions": len(interactions), "users": len(set(interactions.users.tolist())), "items": len(items),
        "evaluation": f"stratified split 75/25 (seed {config.seed:d}), top-{config.k:d}, seen items excluded"
        if evaluated else "skipped: too little data",
        "data_loaded_at": data_loaded_at.isoformat(), "config": config.to_dict(),
    }

    def build(folder: Path) -> BuiltArtifact:
        bundle.save(folder)
        return BuiltArtifact(metrics=metrics, training_data_summary=summary, base_model=_encoder_name(),
                             notes="Hybrid of popularity, item-kNN, ALS and content (sentence embeddings).")

    progress(95.0, "writing the model version")
    version = model_version_create(scenario=SCENARIO, build=build, created_by=created_by, job=job)
    progress(98.0, "deciding on activation (the activation policy)")
    verdict = activation_apply(version=version, request=request, verdict=ranking_verdict(
        comparison=comparison, active_version=active.version if active else None, active_error=active_error,
        evaluated_on=f"the held-out 25 % of the interactions (top-{config.k})", not_evaluated=not_evaluated))
    if verdict.activated:
        return version, f"v{version.version} trained and activated. {verdict.reason}"
    return version, f"v{version.version} registered, not activated. {verdict.reason}"


def _blend_comparison(result: EvaluationResult, *, train, test, item_ids, weights: dict, active: ModelVersion | None,
                      k: int):
    """Per-user nDCG of the new blend and of the active version's blend (its weights on the same
    fitted components), and why the active one could not be compared ("" when it could); with no
    comparison at all (None), why not."""
    from ml_core.recsys import compare_blends

    baseline = dict((active.metrics or {}).get("weights") or {}) if active else {}
    usable = {name: w for name, w in baseline.items() if name in result.models and w}
    why = "" if usable or active is None else f"the active v{active.version} has no blend weights this data can rank with"
    try:
        comparison = compare_blends(result, train=train, test=test, item_ids=item_ids, candidate_weights=weights,
                                    baseline_weights=usable or weights, k=k)
    except RecsysDataError as exc:
        log.warning("no paired comparison: %s", exc)
        return None, str(exc)
    return comparison, why


def recommender_training_refusal(*, params: dict | None = None) -> str:
    """Why a training job could only fail (bad options, no interactions), or "" when it can start."""
    try:
        _training_options(params or {})
    except UserError as exc:
        return str(exc)
    if not Interaction.objects.exists():
        return "there are no interactions to learn from: import some (import_movielens) or post events"
    return ""


def recommender_retrain_start(*, created_by=None, params: dict | None = None) -> Job:
    """Queue a training job (the admin's "Retrain", the nightly schedule, the dashboard button, the
    API), or refuse with a UserError when it could only fail."""
    why = recommender_training_refusal(params=params)
    if why:
        raise UserError(f"Not started: {why}")
    return job_start(task=TRAIN_RECOMMENDER, title="Train the recommender", params=params or {},
                     scenario=SCENARIO, created_by=created_by)


def job_outcome_for(version: ModelVersion, message: str) -> JobOutcome:
    headline = {k: v for k, v in version.metrics.items() if not isinstance(v, dict)}
    return JobOutcome(metrics=headline, message=message,
                      result={"model_version": version.pk, "version": version.version, "activated": version.is_active,
                              "activation": version.activation_reason, "activation_decision": version.activation_decision})


def recommender_training_run(*, job: Job, progress) -> JobOutcome:
    """The training job's work: evaluate every model, tune the hybrid, fit it on all data, register."""
    version, message = recommender_train(params=job.params, created_by=job.created_by, job=job, progress=progress)
    return job_outcome_for(version, message)


def recommender_nightly_start() -> Job | None:
    """Beat: queue the nightly training job (the activation policy decides on its version); None,
    logged, when there is nothing to train on yet."""
    try:
        return recommender_retrain_start(params={"activate": "if_better"})
    except UserError as exc:  # e.g. no interactions yet: nothing to train, say so in the log
        log.info("nightly recommender training skipped: %s", exc)
        return None
