"""Serving recommendations in a web or worker process.

The active model version is held by an ActiveModelCache (a newly activated version is picked up
within seconds). The catalogue is read from the database and cached until it changes: which items
are active, their titles and categories, and items embedded after the model was trained, which
are added to it so they can be recommended from their text straight away.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from apps.core.models import ModelVersion
from apps.core.services.registry import ActiveModelCache
from ml_core.recsys import Recommender

from . import selectors
from .scenario import SCENARIO

CATALOGUE_CHECK_INTERVAL_S = 2.0
MAX_K = 100


class NoModelError(Exception):
    """No recommender version is active yet."""


@dataclass
class ServedModel:
    recommender: Recommender
    version: int
    backbone: str
    trained_from: dt.datetime | None
    synced_stamp: object = None


def _load(folder: Path, version: ModelVersion) -> ServedModel:
    loaded_at = version.training_data_summary.get("data_loaded_at")
    return ServedModel(Recommender.load(folder), version.version, version.base_model,
                       dt.datetime.fromisoformat(loaded_at) if loaded_at else None)


model_cache: ActiveModelCache[ServedModel] = ActiveModelCache(SCENARIO, _load)


@dataclass
class _Catalogue:
    stamp: object = None
    checked_at: float = 0.0
    titles: dict = field(default_factory=dict)
    categories: dict = field(default_factory=dict)
    active: set = field(default_factory=set)
    masks: OrderedDict = field(default_factory=OrderedDict)


_catalogue = _Catalogue()
_lock = threading.Lock()


def _refresh_catalogue() -> _Catalogue:
    if time.monotonic() - _catalogue.checked_at < CATALOGUE_CHECK_INTERVAL_S:
        return _catalogue
    with _lock:
        if time.monotonic() - _catalogue.checked_at >= CATALOGUE_CHECK_INTERVAL_S:
            stamp = selectors.catalogue_stamp()
            if stamp != _catalogue.stamp:
                snapshot = selectors.catalogue_snapshot()
                _catalogue.titles, _catalogue.categories = snapshot["titles"], snapshot["categories"]
                _catalogue.active = snapshot["active"]
                _catalogue.masks.clear()
                _catalogue.stamp = stamp
            _catalogue.checked_at = time.monotonic()
    return _catalogue


def _sync_new_items(served: ServedModel, catalogue: _Catalogue) -> None:
    """Add items embedded since the model's data was read (new items: served from their text)."""
    if served.synced_stamp == catalogue.stamp or served.trained_from is None:
        return
    with _lock:
        if served.synced_stamp == catalogue.stamp:
            return
        items, vectors = selectors.catalogue_with_embeddings(backbone=served.backbone, since=served.trained_from)
        fresh = [n for n, item in enumerate(items) if item.item_id not in served.recommender.index_of]
        if fresh and vectors.shape[1] == served.recommender.content.vectors.shape[1]:
            served.recommender.add_items([items[n] for n in fresh], vectors[fresh])
        served.synced_stamp = catalogue.stamp


def clear_caches() -> None:
    """Forget the cached catalogue and model (tests; after bulk changes)."""
    with _lock:
        _catalogue.stamp, _catalogue.checked_at = None, 0.0
        _catalogue.masks.clear()
    model_cache.invalidate()
    model_cache._loaded = None


def _allowed(served: ServedModel, catalogue: _Catalogue, category: str | None) -> np.ndarray:
    recommender = served.recommender
    key = (id(recommender), len(recommender), category)
    mask = catalogue.masks.get(key)
    if mask is None:
        wanted = catalogue.active if category is None else {
            i for i in catalogue.active if category in catalogue.categories.get(i, ())}
        mask = recommender.mask(wanted)
        catalogue.masks[key] = mask
        while len(catalogue.masks) > 64:
            catalogue.masks.popitem(last=False)
    return mask


def _present(catalogue: _Catalogue, item_id: str, score: float, reason: str, because: str | None) -> dict:
    return {"item": item_id, "title": catalogue.titles.get(item_id, item_id),
            "categories": catalogue.categories.get(item_id, []), "score": round(float(score), 4),
            "reason": reason, "because": because}


def _active_model(catalogue: _Catalogue) -> ServedModel | None:
    loaded = model_cache.get()
    if loaded is None:
        return None
    _sync_new_items(loaded.model, catalogue)
    return loaded.model


def recommendations_for_user(*, external_id: str, k: int = 10, category: str | None = None,
                             exclude: tuple[str, ...] = (), diversity: float = 0.0) -> dict:
    """Top-k for a user: popular items for an unknown user, content-based for a new one, the hybrid
    otherwise; never an item they already had, an inactive one, or one outside `category`."""
    catalogue = _refresh_catalogue()
    user = selectors.user_get(external_id=external_id)
    history = selectors.user_history(user=user)
    served = _active_model(catalogue)
    out = {"user": external_id, "known_user": user is not None, "history_items": len({e.item_id for e in history}),
           "k": k, "category": category, "diversity": diversity}
    if served is None:
        return {**out, "strategy": "popularity", "model_version": None,
                "items": _popular_without_model(catalogue, history, k, category, exclude)}
    result = served.recommender.recommend(history, k=k, exclude=set(exclude),
                                          allowed=_allowed(served, catalogue, category),
                                          diversity=diversity, category=category)
    return {**out, "strategy": result.strategy, "model_version": served.version,
            "items": [_present(catalogue, r.item_id, r.score, r.reason, r.because_item_id) for r in result.items]}


def _popular_without_model(catalogue: _Catalogue, history, k, category, exclude) -> list[dict]:
    seen = {e.item_id for e in history} | set(exclude)
    out = []
    for item_id, users in selectors.popular_items(limit=k + len(seen) + 200):
        if item_id in seen or (category and category not in catalogue.categories.get(item_id, ())):
            continue
        where = category or next(iter(catalogue.categories.get(item_id, [])), None)
        reason = f"Popular in {where} ({users} people)" if where else f"Popular overall ({users} people)"
        out.append(_present(catalogue, item_id, users, reason, None))
        if len(out) == k:
            break
    return out


def similar_items_for(*, external_id: str, k: int = 10, category: str | None = None,
                      exclude: tuple[str, ...] = (), diversity: float = 0.0) -> dict:
    catalogue = _refresh_catalogue()
    served = _active_model(catalogue)
    if served is None:
        raise NoModelError("no recommender is trained yet: start a training job first")
    if external_id not in served.recommender.index_of:
        raise KeyError(external_id)
    items = served.recommender.similar_items(external_id, k=k, exclude=set(exclude),
                                             allowed=_allowed(served, catalogue, category), diversity=diversity)
    return {"item": external_id, "title": catalogue.titles.get(external_id, external_id), "k": k,
            "category": category, "diversity": diversity, "model_version": served.version,
            "items": [_present(catalogue, r.item_id, r.score, r.reason, r.because_item_id) for r in items]}


def recommendation_explanation(*, external_id: str, item_id: str) -> dict:
    """Why `item_id` is recommended to a user: the history items that drove it (behaviour and
    content terms, ml_core.trust.recommendation) and the words of the item's text that matched
    the user's taste profile (integrated gradients on the encoder; computed on demand, cached)."""
    from apps.core.services.explanations import similarity_explanation
    from ml_core.recsys import item_text
    from ml_core.trust import history_contributions

    catalogue = _refresh_catalogue()
    served = _active_model(catalogue)
    if served is None:
        raise NoModelError("no recommender is trained yet: start a training job first")
    user = selectors.user_get(external_id=external_id)
    history = selectors.user_history(user=user)
    found = history_contributions(served.recommender, history, item_id)  # KeyError: unknown item
    profile, centre = found.pop("profile"), found.pop("centre")
    item = selectors.item_get(external_id=item_id)
    found["words"] = None
    if profile is not None and item is not None:
        text = item_text(item.title, item.description, item.category_names)
        found["words"] = similarity_explanation(text=text, reference=profile, centre=centre,
                                                what="match with the user's taste profile", encoder_name=served.backbone)
    found["title"] = catalogue.titles.get(item_id, item_id)
    return found
