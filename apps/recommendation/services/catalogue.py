"""The catalogue: items (with their categories) and end users, created or updated in batches by external id.

A bad row is reported (its index and the field at fault) and left out; the good rows are stored
together in one transaction. New items, and items whose text changed, queue an embedding job.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.validation import NUL_MESSAGE, contains_nul

from ..models import Category, EndUser, Item
from .batches import BatchResult, _check_batch, _external_id
from .embeddings import items_embed_start


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
