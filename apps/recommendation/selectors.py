"""Reads of the recommendation app: training data, the catalogue, histories, dashboard figures."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Max, Prefetch, Q, QuerySet

from apps.core.models import ModelVersion
from ml_core.recsys import ALL_MODELS, KIND_WEIGHTS, CatalogueItem, HistoryEvent, Interactions

from .models import Category, EndUser, Interaction, Item
from .scenario import SCENARIO

HISTORY_LIMIT = 500


def _with_category_names(items: QuerySet[Item]) -> list[Item]:
    items = list(items.prefetch_related(Prefetch("categories", queryset=Category.objects.order_by("name"))))
    for item in items:
        item.category_names = [c.name for c in item.categories.all()]
    return items


def items_needing_embeddings(*, backbone: str) -> list[Item]:
    return _with_category_names(
        Item.objects.filter(Q(embedding__isnull=True) | ~Q(embedding_backbone=backbone)).order_by("pk"))


def training_interactions() -> Interactions:
    """Every interaction as (user, item, weight of its kind, epoch seconds)."""
    rows = Interaction.objects.values_list("user__external_id", "item__external_id", "kind", "occurred_at")
    return Interactions.from_rows(
        (user, item, KIND_WEIGHTS.get(kind, 1.0), when.timestamp()) for user, item, kind, when in rows.iterator(chunk_size=5000)
    )


def catalogue_with_embeddings(*, backbone: str, since=None) -> tuple[list[CatalogueItem], np.ndarray]:
    """Items embedded by `backbone` (optionally: embedded at or after `since`) and their vectors."""
    items = Item.objects.filter(embedding__isnull=False, embedding_backbone=backbone).order_by("pk")
    if since is not None:
        items = items.filter(embedded_at__gte=since)
    items = _with_category_names(items)
    catalogue = [CatalogueItem(i.external_id, i.title, i.description, i.category_names) for i in items]
    if not items:
        return [], np.zeros((0, 0), dtype=np.float32)
    return catalogue, np.stack([np.frombuffer(bytes(i.embedding), dtype=np.float32) for i in items])


def user_get(*, external_id: str) -> EndUser | None:
    return EndUser.objects.filter(external_id=external_id).first()


def user_history(*, user: EndUser | None, limit: int = HISTORY_LIMIT) -> list[HistoryEvent]:
    """The user's latest interactions, newest first, as the recommender reads them."""
    if user is None:
        return []
    rows = (Interaction.objects.filter(user=user).order_by("-occurred_at")
            .values_list("item__external_id", "kind", "value", "occurred_at")[:limit])
    return [HistoryEvent(item, KIND_WEIGHTS.get(kind, 1.0), when.timestamp(), kind, value)
            for item, kind, value, when in rows]


def user_history_rows(*, user: EndUser, limit: int = 100) -> QuerySet[Interaction]:
    return Interaction.objects.filter(user=user).select_related("item").order_by("-occurred_at")[:limit]


def item_get(*, external_id: str) -> Item | None:
    items = _with_category_names(Item.objects.filter(external_id=external_id))
    return items[0] if items else None


@dataclass(frozen=True)
class CatalogueStamp:
    """Changes whenever an item is added, changed or embedded: when to refresh cached views."""

    count: int
    updated: object
    embedded: object


def catalogue_stamp() -> CatalogueStamp:
    figures = Item.objects.aggregate(count=Count("pk"), updated=Max("updated_at"), embedded=Max("embedded_at"))
    return CatalogueStamp(figures["count"], figures["updated"], figures["embedded"])


def catalogue_snapshot() -> dict:
    """What serving needs of the current catalogue: titles, categories, and which items are active."""
    titles, categories, active = {}, {}, set()
    for external_id, title, is_active in Item.objects.values_list("external_id", "title", "is_active"):
        titles[external_id] = title
        categories[external_id] = []
        if is_active:
            active.add(external_id)
    links = Item.categories.through.objects.values_list("item__external_id", "category__name")
    for external_id, name in links:
        categories[external_id].append(name)
    return {"titles": titles, "categories": categories, "active": active}


def popular_items(*, limit: int = 100) -> list[tuple[str, int]]:
    """Active items by number of distinct users who interacted with them (used before any model)."""
    rows = (Item.objects.filter(is_active=True).annotate(users=Count("interactions__user", distinct=True))
            .filter(users__gt=0).order_by("-users", "pk").values_list("external_id", "users")[:limit])
    return list(rows)


def item_interaction_count(*, item: Item) -> dict:
    return item.interactions.aggregate(events=Count("pk"), users=Count("user", distinct=True))


def item_search(*, query: str = "", category: str | None = None, limit: int = 50) -> list[Item]:
    items = Item.objects.all()
    if query:
        items = items.filter(Q(title__icontains=query) | Q(external_id=query))
    if category:
        items = items.filter(categories__name=category)
    return _with_category_names(items.order_by("title")[:limit])


def user_search(*, query: str = "", limit: int = 50) -> QuerySet[EndUser]:
    users = EndUser.objects.annotate(events=Count("interactions"))
    if query:
        users = users.filter(external_id__icontains=query)
    return users.order_by("-events", "external_id")[:limit]


def category_names() -> list[str]:
    return list(Category.objects.order_by("name").values_list("name", flat=True))


def catalogue_counts() -> dict:
    return {
        "items": Item.objects.count(), "active_items": Item.objects.filter(is_active=True).count(),
        "embedded_items": Item.objects.filter(embedding__isnull=False).count(),
        "users": EndUser.objects.count(), "interactions": Interaction.objects.count(),
    }


def recommender_versions(*, limit: int = 20) -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(scenario=SCENARIO).select_related("created_by")
                .order_by("-version")[:limit])


def model_order(name: str) -> tuple[int, str]:
    """Models in the order of the evaluation (baselines first, the hybrid last)."""
    return (ALL_MODELS.index(name) if name in ALL_MODELS else len(ALL_MODELS), name)


def version_chart_data(*, versions: list[ModelVersion], k: int = 10) -> dict:
    """Per model and metric, each version's figure: for side-by-side bars on the dashboard."""
    metrics = ["map", f"ndcg@{k}", f"precision@{k}", f"recall@{k}", "coverage"]
    ordered = sorted(versions, key=lambda v: v.version)
    models = sorted({name for v in ordered for name in v.metrics.get("models", {})}, key=model_order)
    return {
        "versions": [f"v{v.version}" for v in ordered],
        "models": models,
        "metrics": metrics,
        "values": {
            f"v{v.version}": {name: {m: v.metrics.get("models", {}).get(name, {}).get(m) for m in metrics}
                              for name in models}
            for v in ordered
        },
    }
