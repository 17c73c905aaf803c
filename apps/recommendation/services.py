"""Writes of the recommendation app: catalogue and event batches, imports, embeddings, training.

Batches are validated row by row: a bad row is reported (its index and the field at fault) and
left out, the good rows are stored together in one transaction. Imports from files are
all-or-nothing: the first bad line is named and nothing is stored.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.models import Job, ModelVersion
from apps.core.services.activation import activation_apply, activation_request, ranking_verdict
from apps.core.services.jobs import JobOutcome, job_start
from apps.core.services.registry import BuiltArtifact, model_version_create
from apps.core.validation import NUL_MESSAGE, contains_nul
from ml_core.errors import UserError
from ml_core.progress import ProgressCallback, no_progress, sub_progress
from ml_core.recsys.data import RecsysDataError, item_text, load_movielens, stratified_split
from ml_core.recsys.serving import Recommender
from ml_core.recsys.training import EvaluationResult, RecsysConfig, evaluate_models

from . import selectors
from .models import EXTERNAL_ID_MAX, Category, EndUser, Interaction, Item

log = logging.getLogger(__name__)

SCENARIO = selectors.SCENARIO
# The Celery tasks (apps/recommendation/tasks.py), queued by name: this module never imports them.
TRAIN_RECOMMENDER = "recommendation.train_recommender"
EMBED_ITEMS = "recommendation.embed_items"
MAX_BATCH = 1000  # rows per batch of the file imports (never above RECOMMENDATION_MAX_BATCH_ROWS)
# The models evaluated (and shown side by side) each time the recommender is trained.
TRAINING_EVALUATED_MODELS = ("popularity", "item_knn", "als", "content", "hybrid")


class BatchError(UserError):
    """The request as a whole is unusable (not a list, too long); nothing was stored."""


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)
    embedding_job_id: str | None = None

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged

    def as_dict(self) -> dict:
        out = {"accepted": self.accepted, "created": self.created, "updated": self.updated,
               "unchanged": self.unchanged, "duplicates": self.duplicates, "rejected": self.rejected}
        if self.embedding_job_id:
            out["embedding_job"] = self.embedding_job_id
        return out


# --- row validation ---------------------------------------------------------------------------------
def _external_id(value: Any, errors: dict, name: str) -> str:
    if isinstance(value, (int,)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        errors[name] = "required: a non-empty string"
        return ""
    if contains_nul(value):
        errors[name] = NUL_MESSAGE
        return ""
    value = value.strip()
    if len(value) > EXTERNAL_ID_MAX:
        errors[name] = f"at most {EXTERNAL_ID_MAX} characters"
    return value


def import_chunk_rows() -> int:
    """Rows per batch when a file import feeds the batch services (each batch within the API's limit)."""
    return max(1, min(MAX_BATCH, settings.RECOMMENDATION_MAX_BATCH_ROWS))


def _check_batch(rows: Any, what: str) -> list:
    if not isinstance(rows, list):
        raise BatchError(f"'{what}' must be a list of objects")
    limit = settings.RECOMMENDATION_MAX_BATCH_ROWS
    if len(rows) > limit:
        raise BatchError(f"at most {limit} {what} per request (RECOMMENDATION_MAX_BATCH_ROWS), got {len(rows)}")
    return rows


def _clean_item(row: Any) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    if not isinstance(row, dict):
        return {}, {"item": "must be an object"}
    unknown = sorted(set(row) - {"id", "title", "description", "categories", "attributes", "is_active"})
    if unknown:
        errors["fields"] = f"unknown field(s): {', '.join(unknown)}"
    clean = {"external_id": _external_id(row.get("id"), errors, "id")}
    title = row.get("title")
    if not isinstance(title, str) or not title.strip():
        errors["title"] = "required: a non-empty string"
    elif len(title) > 300:
        errors["title"] = "at most 300 characters"
    else:
        clean["title"] = title.strip()
    description = row.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        errors["description"] = "must be a string"
    clean["description"] = description.strip() if isinstance(description, str) else ""
    categories = row.get("categories", [])
    if categories is None:
        categories = []
    if not isinstance(categories, list) or not all(isinstance(c, str) and c.strip() for c in categories):
        errors["categories"] = "must be a list of non-empty strings"
    elif any(len(c) > 100 for c in categories):
        errors["categories"] = "each category has at most 100 characters"
    else:
        clean["categories"] = list(dict.fromkeys(c.strip() for c in categories))
    attributes = row.get("attributes", {})
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        errors["attributes"] = "must be an object"
    clean["attributes"] = attributes if isinstance(attributes, dict) else {}
    is_active = row.get("is_active", True)
    if not isinstance(is_active, bool):
        errors["is_active"] = "must be true or false"
    clean["is_active"] = bool(is_active) if isinstance(is_active, bool) else True
    for name in ("title", "description", "categories", "attributes"):
        if name not in errors and contains_nul(row.get(name)):
            errors[name] = NUL_MESSAGE
    return clean, errors


def _parse_time(value: Any, errors: dict) -> dt.datetime | None:
    if value is None:
        return timezone.now()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            errors["timestamp"] = "must be a non-negative number of seconds since 1970 or an ISO 8601 time"
            return None
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            errors["timestamp"] = f"{value} seconds since 1970 is not a date this system can store"
            return None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            errors["timestamp"] = f"{value!r} is not an ISO 8601 time (e.g. 2024-05-01T12:30:00Z)"
            return None
        return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)
    errors["timestamp"] = "must be an ISO 8601 time or seconds since 1970"
    return None


def _clean_event(row: Any) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    if not isinstance(row, dict):
        return {}, {"event": "must be an object"}
    unknown = sorted(set(row) - {"user", "item", "kind", "value", "timestamp", "event_id"})
    if unknown:
        errors["fields"] = f"unknown field(s): {', '.join(unknown)}"
    clean = {"user": _external_id(row.get("user"), errors, "user"),
             "item": _external_id(row.get("item"), errors, "item")}
    kind = row.get("kind")
    if kind not in Interaction.Kind.values:
        errors["kind"] = f"must be one of {', '.join(Interaction.Kind.values)}"
    clean["kind"] = kind
    value = row.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
        errors["value"] = "must be a number"
    elif kind == Interaction.Kind.RATING and value is None:
        errors["value"] = "a rating needs its value"
    clean["value"] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    clean["occurred_at"] = _parse_time(row.get("timestamp"), errors)
    event_id = row.get("event_id")
    clean["event_id"] = _external_id(event_id, errors, "event_id") if event_id is not None else None
    return clean, errors


# --- catalogue ------------------------------------------------------------------------------------
def _categories_by_name(names: Iterable[str]) -> dict[str, Category]:
    names = set(names)
    if not names:
        return {}
    Category.objects.bulk_create([Category(name=n) for n in names], ignore_conflicts=True)
    return {c.name: c for c in Category.objects.filter(name__in=names)}


def _store_items(rows: list[dict]) -> tuple[int, int, int, list[int]]:
    """Upsert clean item rows in bulk. Returns created, updated, unchanged, pks needing embeddings."""
    existing = {i.external_id: i for i in Item.objects.filter(external_id__in=[r["external_id"] for r in rows])
                .prefetch_related("categories")}
    categories = _categories_by_name(c for r in rows for c in r.get("categories", []))
    created, updated, unchanged = [], [], 0
    text_changed: list[Item] = []
    for row in rows:
        item = existing.get(row["external_id"])
        if item is None:
            created.append((Item(external_id=row["external_id"], title=row["title"], description=row["description"],
                                 attributes=row["attributes"], is_active=row["is_active"]), row["categories"]))
            continue
        old_categories = sorted(c.name for c in item.categories.all())
        new_values = (row["title"], row["description"], row["attributes"], row["is_active"], sorted(row["categories"]))
        if (item.title, item.description, item.attributes, item.is_active, old_categories) == new_values:
            unchanged += 1
            continue
        if (item.title, item.description, old_categories) != (row["title"], row["description"], sorted(row["categories"])):
            item.embedding, item.embedding_backbone, item.embedded_at = None, "", None
            text_changed.append(item)
        item.title, item.description = row["title"], row["description"]
        item.attributes, item.is_active = row["attributes"], row["is_active"]
        item.updated_at = timezone.now()
        updated.append((item, row["categories"]))
    Item.objects.bulk_create([item for item, _ in created], batch_size=500)
    # bulk_create sets pks on PostgreSQL and SQLite; fetch them to be safe on every backend.
    new_pks = dict(Item.objects.filter(external_id__in=[i.external_id for i, _ in created])
                   .values_list("external_id", "pk"))
    for item, _ in created:
        item.pk = new_pks[item.external_id]
    if updated:
        Item.objects.bulk_update([item for item, _ in updated],
                                 ["title", "description", "attributes", "is_active", "embedding",
                                  "embedding_backbone", "embedded_at", "updated_at"], batch_size=500)
    links = Item.categories.through
    changed = created + updated
    links.objects.filter(item_id__in=[item.pk for item, _ in updated]).delete()
    links.objects.bulk_create([links(item_id=item.pk, category_id=categories[name].pk)
                               for item, names in changed for name in names], batch_size=1000)
    needing = [item.pk for item, _ in created] + [item.pk for item in text_changed]
    return len(created), len(updated), unchanged, needing


def items_upsert(*, items: Any, start_embedding: bool = True) -> BatchResult:
    """Create or update items by external id; bad rows are reported and skipped."""
    rows = _check_batch(items, "items")
    result = BatchResult()
    good: dict[str, dict] = {}
    for index, row in enumerate(rows):
        clean, errors = _clean_item(row)
        if not errors and clean["external_id"] in good:
            errors = {"id": f"appears twice in this batch (also at index {good[clean['external_id']]['_index']})"}
        if errors:
            result.rejected.append({"index": index, "id": clean.get("external_id") or None, "errors": errors})
            continue
        good[clean["external_id"]] = {**clean, "_index": index}
    if good:
        with transaction.atomic():
            result.created, result.updated, result.unchanged, needing = _store_items(list(good.values()))
            if needing and start_embedding:
                job = items_embed_start()
                result.embedding_job_id = str(job.pk) if job else None
    return result


def users_upsert(*, users: Any) -> BatchResult:
    """Create or update end users ({"id", "attributes"}) by external id."""
    rows = _check_batch(users, "users")
    result = BatchResult()
    good: dict[str, dict] = {}
    for index, row in enumerate(rows):
        errors: dict[str, str] = {}
        if not isinstance(row, dict):
            result.rejected.append({"index": index, "id": None, "errors": {"user": "must be an object"}})
            continue
        external_id = _external_id(row.get("id"), errors, "id")
        unknown = sorted(set(row) - {"id", "attributes"})
        if unknown:
            errors["fields"] = f"unknown field(s): {', '.join(unknown)}"
        attributes = row.get("attributes") or {}
        if not isinstance(attributes, dict):
            errors["attributes"] = "must be an object"
        elif contains_nul(attributes):
            errors["attributes"] = NUL_MESSAGE
        if not errors and external_id in good:
            errors["id"] = "appears twice in this batch"
        if errors:
            result.rejected.append({"index": index, "id": external_id or None, "errors": errors})
            continue
        good[external_id] = attributes
    if good:
        with transaction.atomic():
            existing = {u.external_id: u for u in EndUser.objects.filter(external_id__in=list(good))}
            new = [EndUser(external_id=e, attributes=a) for e, a in good.items() if e not in existing]
            changed = []
            for external_id, user in existing.items():
                if user.attributes != good[external_id]:
                    user.attributes = good[external_id]
                    changed.append(user)
            EndUser.objects.bulk_create(new, batch_size=500)
            EndUser.objects.bulk_update(changed, ["attributes"], batch_size=500)
            result.created, result.updated = len(new), len(changed)
            result.unchanged = len(existing) - len(changed)
    return result


def _users_by_external_id(external_ids: set[str]) -> dict[str, int]:
    EndUser.objects.bulk_create([EndUser(external_id=e) for e in external_ids], ignore_conflicts=True,
                                batch_size=500)
    return dict(EndUser.objects.filter(external_id__in=external_ids).values_list("external_id", "pk"))


def interactions_record(*, events: Any) -> BatchResult:
    """Store interaction events; unknown users are created, unknown items are rejected per event.

    An event whose `event_id` was stored before is counted as a duplicate, not stored again.
    """
    rows = _check_batch(events, "events")
    result = BatchResult()
    cleaned: list[tuple[int, dict, dict]] = [(n, *_clean_event(row)) for n, row in enumerate(rows)]
    item_pks = dict(Item.objects.filter(
        external_id__in={c["item"] for _, c, e in cleaned if c.get("item") and "item" not in e}
    ).values_list("external_id", "pk"))
    known_event_ids = set(Interaction.objects.filter(
        event_id__in={c["event_id"] for _, c, e in cleaned if c.get("event_id") and not e}
    ).values_list("event_id", flat=True))
    good: list[dict] = []
    batch_event_ids: set[str] = set()
    for index, clean, errors in cleaned:
        if not errors and clean["item"] not in item_pks:
            errors = {"item": f"unknown item {clean['item']!r}: upsert it first"}
        if errors:
            result.rejected.append({"index": index, "errors": errors})
            continue
        if clean["event_id"] and (clean["event_id"] in known_event_ids or clean["event_id"] in batch_event_ids):
            result.duplicates += 1
            continue
        if clean["event_id"]:
            batch_event_ids.add(clean["event_id"])
        good.append(clean)
    if good:
        with transaction.atomic():
            user_pks = _users_by_external_id({c["user"] for c in good})
            Interaction.objects.bulk_create([
                Interaction(user_id=user_pks[c["user"]], item_id=item_pks[c["item"]], kind=c["kind"],
                            value=c["value"], occurred_at=c["occurred_at"], event_id=c["event_id"])
                for c in good
            ], batch_size=1000, ignore_conflicts=any(c["event_id"] for c in good))
        result.created = len(good)
    return result


# --- MovieLens ---------------------------------------------------------------------------------------
@dataclass
class ImportSummary:
    items: int
    users: int
    interactions: int
    new_interactions: int
    seconds: float


def movielens_import(*, folder: Path | str, prefix: str = "",
                     progress: ProgressCallback = no_progress) -> ImportSummary:
    """Import MovieLens 100K (u.data, u.item, u.user, u.genre) from `folder`.

    Every file is parsed and checked before anything is written; a bad line raises
    RecsysDataError naming the file and the line, and the database is left as it was. Ratings
    become `rating` interactions with the rating as value; importing again adds nothing twice.
    """
    started = time.perf_counter()
    progress(1.0, "reading the MovieLens files")
    data = load_movielens(folder)
    progress(10.0, f"read {len(data.items)} films, {len(data.users)} users, {len(data.interactions)} ratings")
    with transaction.atomic():
        chunk_rows = import_chunk_rows()
        for start in range(0, len(data.items), chunk_rows):
            chunk = data.items[start:start + chunk_rows]
            _store_items([{"external_id": prefix + i.item_id, "title": i.title, "description": i.description,
                           "categories": i.categories, "attributes": i.attributes, "is_active": True}
                          for i in chunk])
        progress(20.0, "stored the films")
        users = {prefix + u["user_id"]: {k: v for k, v in u.items() if k != "user_id"} for u in data.users}
        existing = set(EndUser.objects.filter(external_id__in=list(users)).values_list("external_id", flat=True))
        EndUser.objects.bulk_create([EndUser(external_id=e, attributes=a) for e, a in users.items()
                                     if e not in existing], batch_size=1000)
        user_pks = dict(EndUser.objects.filter(external_id__in=list(users)).values_list("external_id", "pk"))
        item_pks = dict(Item.objects.filter(external_id__in=[prefix + i.item_id for i in data.items])
                        .values_list("external_id", "pk"))
        progress(25.0, "stored the users")
        before = Interaction.objects.count()
        interactions = data.interactions
        total = len(interactions)
        chunk_size = 5000
        for start in range(0, total, chunk_size):
            stop = min(start + chunk_size, total)
            Interaction.objects.bulk_create([
                Interaction(
                    user_id=user_pks[prefix + interactions.users[n]], item_id=item_pks[prefix + interactions.items[n]],
                    kind=Interaction.Kind.RATING, value=float(data.ratings[n]),
                    occurred_at=dt.datetime.fromtimestamp(float(interactions.timestamps[n]), tz=dt.UTC),
                    event_id=f"movielens:{prefix}{interactions.users[n]}:{prefix}{interactions.items[n]}",
                ) for n in range(start, stop)
            ], ignore_conflicts=True)
            progress(25.0 + 75.0 * stop / total, f"stored {stop}/{total} ratings")
        added = Interaction.objects.count() - before
    return ImportSummary(len(data.items), len(data.users), total, added, time.perf_counter() - started)


# --- embeddings ---------------------------------------------------------------------------------------
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


# --- training --------------------------------------------------------------------------------------------
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
    from ml_core.recsys.comparison import compare_blends

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


def items_embed_run(*, job: Job, progress) -> JobOutcome:
    """The embedding job's work: embed catalogue items that are new or whose text changed."""
    count = items_embed(progress=progress)
    return JobOutcome(metrics={"embedded": count}, message=f"Embedded {count} item(s)")


def recommender_nightly_start() -> Job | None:
    """Beat: queue the nightly training job (the activation policy decides on its version); None,
    logged, when there is nothing to train on yet."""
    try:
        return recommender_retrain_start(params={"activate": "if_better"})
    except UserError as exc:  # e.g. no interactions yet: nothing to train, say so in the log
        log.info("nightly recommender training skipped: %s", exc)
        return None
