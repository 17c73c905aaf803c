"""The served recommender: one folder holding every component, the blend weights and the items.

`Recommender.recommend(history, ...)` picks a strategy from what it knows of the user:
nothing -> the most popular items ("Popular in Drama"); a few items (cold start) -> the content
model from the faiss index ("Because you liked X"); enough -> the tuned hybrid. Seen items are
never recommended; filters (allowed items, excluded ids) apply before ranking; an optional MMR
step trades relevance for variety. Items added after training (`add_items`) are served from
their text at once: they have no behaviour yet, so only the content model knows them.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ml_core.retrieval import VectorIndex

from .data import CatalogueItem, InteractionMatrix, Interactions
from .models import ALSModel, ContentModel, HistoryBatch, ItemKNNModel, PopularityModel
from .training import RecsysConfig, blend, build_model, fit_model, standardise

BUNDLE_FILE = "recommender.json"
ITEMS_FILE = "items.json"

# How the reason names what the user did with the item it points to.
_VERBS = {"view": "viewed", "click": "looked at", "like": "liked", "purchase": "bought", "rating": "liked"}


@dataclass
class HistoryEvent:
    """Something the user did with an item (the latest event per item is enough)."""

    item_id: str
    weight: float = 1.0
    timestamp: float = 0.0
    kind: str = "rating"
    value: float | None = None


@dataclass
class Recommendation:
    item_id: str
    score: float
    reason: str
    because_item_id: str | None = None


@dataclass
class RecommendationList:
    strategy: str  # "hybrid", "content" (cold start) or "popularity"
    items: list[Recommendation] = field(default_factory=list)


_blas_controller = None


def _one_blas_thread():
    """Serve one request on one BLAS thread. A request's products are tiny; waking the BLAS thread
    pools (numpy's and faiss's OpenBLAS both load in a web process) costs 10-20 ms on a busy
    machine instead of 0.1 ms, and a web server runs requests side by side anyway."""
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


def _verb(event: HistoryEvent) -> str:
    if event.kind == "rating" and event.value is not None and event.value < 4:
        return "rated"
    return _VERBS.get(event.kind, "chose")


class Recommender:
    def __init__(self, items: Sequence[CatalogueItem], models: dict, weights: dict[str, float],
                 config: RecsysConfig, metrics: dict | None = None) -> None:
        self.config = config
        self.weights = {k: float(v) for k, v in weights.items() if v}
        self.metrics = metrics or {}
        self.popularity: PopularityModel = models["popularity"]
        self.knn: ItemKNNModel | None = models.get("item_knn")
        self.als: ALSModel | None = models.get("als")
        self.content: ContentModel = models["content"]
        self._lock = threading.Lock()
        self._set_items(list(items))

    # --- catalogue ---------------------------------------------------------------------------
    def _set_items(self, items: list[CatalogueItem]) -> None:
        self.item_ids = [i.item_id for i in items]
        self.titles = [i.title for i in items]
        self.categories = [list(i.categories) for i in items]
        self.index_of = {item_id: n for n, item_id in enumerate(self.item_ids)}
        self.index = VectorIndex(self.content.vectors.shape[1])
        self.index.add(self.item_ids, self.content.vectors)
        self._category_ranks()

    def _category_ranks(self) -> None:
        """Each item's best rank by popularity within one of its categories, for reasons."""
        counts = self.popularity.user_counts
        members: dict[str, list[int]] = {}
        for n, cats in enumerate(self.categories):
            for cat in cats:
                members.setdefault(cat, []).append(n)
        self.category_rank: dict[tuple[int, str], int] = {}
        for cat, items in members.items():
            ordered = sorted(items, key=lambda n: (-counts[n], n))
            for rank, n in enumerate(ordered, start=1):
                self.category_rank[(n, cat)] = rank
        self.category_size = {cat: len(items) for cat, items in members.items()}

    def __len__(self) -> int:
        return len(self.item_ids)

    def add_items(self, items: Sequence[CatalogueItem], embeddings: np.ndarray) -> int:
        """Make items unknown at training time recommendable from their text. Returns how many were new."""
        new = [(item, vector) for item, vector in zip(items, np.asarray(embeddings)) if item.item_id not in self.index_of]
        if not new:
            return 0
        with self._lock:
            added = [item for item, _ in new]
            vectors = self.content.add_vectors(np.stack([v for _, v in new]))
            self.popularity.add_items(len(added))
            if self.knn is not None:
                self.knn.add_items(len(added))
            if self.als is not None:
                self.als.add_items(len(added))
            start = len(self.item_ids)
            self.item_ids += [i.item_id for i in added]
            self.titles += [i.title for i in added]
            self.categories += [list(i.categories) for i in added]
            for n, item in enumerate(added):
                self.index_of[item.item_id] = start + n
            self.index.add([i.item_id for i in added], vectors)
            self._category_ranks()
        return len(added)

    def mask(self, item_ids: Collection[str] | None) -> np.ndarray | None:
        if item_ids is None:
            return None
        out = np.zeros(len(self.item_ids), dtype=bool)
        picked = [self.index_of[i] for i in item_ids if i in self.index_of]
        out[picked] = True
        return out

    # --- recommendations ---------------------------------------------------------------------
    def _history(self, history: Sequence[HistoryEvent]) -> tuple[list[HistoryEvent], HistoryBatch]:
        latest: dict[str, HistoryEvent] = {}
        weights: dict[str, float] = {}
        for event in history:
            if event.item_id not in self.index_of:
                continue  # an item this model does not know (yet)
            weights[event.item_id] = weights.get(event.item_id, 0.0) + event.weight
            if event.item_id not in latest or event.timestamp >= latest[event.item_id].timestamp:
                latest[event.item_id] = event
        known = list(latest.values())
        cols = [self.index_of[e.item_id] for e in known]
        shape = (1, len(self.item_ids))
        w = sp.csr_matrix((np.array([weights[e.item_id] for e in known], np.float32), ([0] * len(cols), cols)), shape=shape)
        t = sp.csr_matrix((np.array([e.timestamp for e in known], np.float64), ([0] * len(cols), cols)), shape=shape)
        w.sort_indices()
        t.sort_indices()
        return known, HistoryBatch(w, t)

    def _excluded(self, seen: Sequence[int], exclude: Collection[str], allowed: np.ndarray | None) -> np.ndarray:
        excluded = np.zeros(len(self.item_ids), dtype=bool) if allowed is None else ~allowed
        excluded[list(seen)] = True
        excluded[[self.index_of[i] for i in exclude if i in self.index_of]] = True
        return excluded

    def recommend(self, history: Sequence[HistoryEvent], k: int = 10, exclude: Collection[str] = (),
                  allowed: np.ndarray | None = None, diversity: float = 0.0,
                  category: str | None = None) -> RecommendationList:
        """Top-k items for a user with this history. `allowed` is a mask over `item_ids`
        (active items in the asked category); `category` only words the popularity reason."""
        with self._lock, _one_blas_thread():
            known, batch = self._history(history)
            seen = [self.index_of[e.item_id] for e in known]
            excluded = self._excluded(seen, exclude, allowed)
            if not known:
                scores = np.log1p(self.popularity.user_counts)
                picked = self._select(scores, excluded, k, diversity)
                return RecommendationList("popularity", [
                    Recommendation(self.item_ids[i], float(scores[i]), self._popular_reason(i, category))
                    for i in picked])
            if len(known) < self.config.cold_start_min_items or not self.weights:
                return self._content_list(known, batch, excluded, k, diversity)
            seen_mask = np.zeros((1, len(self.item_ids)), dtype=bool)
            seen_mask[0, seen] = True
            standardised = {}
            for name in self.weights:
                model = {"popularity": self.popularity, "item_knn": self.knn, "als": self.als,
                         "content": self.content}[name]
                standardised[name] = standardise(model.score(batch), seen_mask)
            scores = blend(standardised, self.weights)[0]
            picked = self._select(scores, excluded, k, diversity)
            return RecommendationList("hybrid", self._personal(picked, scores, known))

    def _content_list(self, known, batch, excluded, k, diversity) -> RecommendationList:
        """Cold start: nearest items to the user's recency-weighted profile, from the faiss index."""
        profile = self.content.profiles(batch)[0]
        wanted = max(k, 50) if diversity > 0 else k
        excluded_ids = {self.item_ids[i] for i in np.flatnonzero(excluded)}
        hits = self.index.search(profile[None, :], k=min(wanted, len(self.item_ids)), exclude=excluded_ids)[0]
        scores = np.full(len(self.item_ids), -np.inf)
        for hit in hits:
            scores[self.index_of[hit.id]] = hit.score
        picked = self._select(scores, scores == -np.inf, k, diversity)
        return RecommendationList("content", self._personal(picked, scores, known, content_only=True))

    def _select(self, scores: np.ndarray, excluded: np.ndarray, k: int, diversity: float) -> list[int]:
        candidates = np.flatnonzero(~excluded & np.isfinite(scores))
        if len(candidates) == 0:
            return []
        if diversity <= 0:
            order = np.lexsort((candidates, -scores[candidates]))
            return candidates[order[:k]].tolist()
        return mmr(scores, candidates, self.content.vectors, k, diversity)

    def _personal(self, picked: list[int], scores: np.ndarray, known: list[HistoryEvent],
                  content_only: bool = False) -> list[Recommendation]:
        """Name, for each picked item, the history item that did most to recommend it:
        the strongest item-kNN neighbour, or failing that the closest in content."""
        if not picked:
            return []
        cols = np.array([self.index_of[e.item_id] for e in known])
        if self.knn is not None and not content_only:
            behaviour = np.asarray(self.knn.similarity[cols][:, picked].todense())
        else:
            behaviour = np.zeros((len(cols), len(picked)))
        text = np.stack([self.content.vectors[cols] @ self.content.vectors[i] for i in picked], axis=1)
        out = []
        for n, item in enumerate(picked):
            contribution = behaviour[:, n] if np.any(behaviour[:, n] > 0) else text[:, n]
            because = known[int(np.argmax(contribution))]
            title = self.titles[self.index_of[because.item_id]]
            out.append(Recommendation(self.item_ids[item], float(scores[item]),
                                      f"Because you {_verb(because)} “{title}”", because.item_id))
        return out

    def _popular_reason(self, item: int, category: str | None) -> str:
        cats = [category] if category and category in self.categories[item] else self.categories[item]
        ranked = [(self.category_rank[(item, c)], c) for c in cats if (item, c) in self.category_rank]
        if not ranked:
            return "Popular overall"
        rank, cat = min(ranked)
        return f"Popular in {cat} (#{rank} of {self.category_size[cat]})"

    def similar_items(self, item_id: str, k: int = 10, exclude: Collection[str] = (),
                      allowed: np.ndarray | None = None, diversity: float = 0.0) -> list[Recommendation]:
        """Items like `item_id`: chosen by the same people (item-kNN) and about the same things (text)."""
        with self._lock, _one_blas_thread():
            item = self.index_of[item_id]
            excluded = self._excluded([item], exclude, allowed)
            text_sim = self.content.vectors @ self.content.vectors[item]
            behaviour = np.zeros(len(self.item_ids))
            if self.knn is not None:
                # Shrunk cosine, not rescaled: a few co-occurrences in a small shop stay weak evidence.
                neighbours, sims = self.knn.neighbours_of(item)
                behaviour[neighbours] = np.clip(sims, 0.0, None)
            text_weight = self.config.similar_content_weight if behaviour.any() else 1.0
            text_part = text_weight * np.clip(text_sim, 0.0, None)
            behaviour_part = (1.0 - text_weight) * behaviour
            scores = text_part + behaviour_part
            picked = self._select(scores, excluded, k, diversity)
            title = self.titles[item]
            out = []
            for i in picked:
                if behaviour_part[i] > text_part[i]:
                    reason = f"Often chosen by people who chose “{title}”"
                else:
                    shared = [c for c in self.categories[i] if c in self.categories[item]]
                    reason = (f"Also {' and '.join(shared[:2])}, like “{title}”" if shared
                              else f"A similar description to “{title}”")
                out.append(Recommendation(self.item_ids[i], float(scores[i]), reason, item_id))
            return out

    # --- persistence ------------------------------------------------------------------------------
    def save(self, folder: Path | str) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            (folder / ITEMS_FILE).write_text(json.dumps(
                {"ids": self.item_ids, "titles": self.titles, "categories": self.categories}))
            (folder / BUNDLE_FILE).write_text(json.dumps({
                "config": self.config.to_dict(), "weights": self.weights, "metrics": self.metrics,
                "components": [n for n, m in (("item_knn", self.knn), ("als", self.als)) if m is not None],
            }, indent=2))
            self.popularity.save(folder)
            self.content.save(folder)
            if self.knn is not None:
                self.knn.save(folder)
            if self.als is not None:
                self.als.save(folder)

    @classmethod
    def load(cls, folder: Path | str) -> Recommender:
        folder = Path(folder)
        meta = json.loads((folder / BUNDLE_FILE).read_text())
        items_meta = json.loads((folder / ITEMS_FILE).read_text())
        items = [CatalogueItem(i, t, categories=c) for i, t, c in
                 zip(items_meta["ids"], items_meta["titles"], items_meta["categories"])]
        models = {"popularity": PopularityModel.load(folder), "content": ContentModel.load(folder)}
        if "item_knn" in meta["components"]:
            models["item_knn"] = ItemKNNModel.load(folder)
        if "als" in meta["components"]:
            models["als"] = ALSModel.load(folder)
        return cls(items, models, meta["weights"], RecsysConfig.from_dict(meta["config"]), meta["metrics"])

    @classmethod
    def fit(cls, interactions: Interactions, items: Sequence[CatalogueItem], embeddings: np.ndarray,
            weights: dict[str, float], config: RecsysConfig, metrics: dict | None = None) -> Recommender:
        """Fit every component on all the interactions (the served model)."""
        matrix = InteractionMatrix.build(interactions, item_ids=[i.item_id for i in items])
        names = ("popularity", "content", "item_knn", "als")
        models = {name: fit_model(build_model(name, config), matrix, embeddings) for name in names}
        return cls(items, models, weights, config, metrics)


def mmr(scores: np.ndarray, candidates: np.ndarray, vectors: np.ndarray, k: int, diversity: float,
        pool: int = 100) -> list[int]:
    """Maximal marginal relevance: each next item maximises
    (1 - diversity) * relevance - diversity * (highest cosine similarity to the items already picked),
    with relevance min-max scaled to [0, 1] over the `pool` best candidates."""
    order = candidates[np.lexsort((candidates, -scores[candidates]))][:max(pool, k)]
    relevance = scores[order]
    span = relevance.max() - relevance.min()
    relevance = (relevance - relevance.min()) / span if span > 0 else np.ones_like(relevance)
    sims = vectors[order] @ vectors[order].T
    picked: list[int] = []
    closest = np.full(len(order), -np.inf)
    available = np.ones(len(order), dtype=bool)
    for _ in range(min(k, len(order))):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        value = np.where(available, (1.0 - diversity) * relevance - diversity * penalty, -np.inf)
        best = int(np.argmax(value))
        picked.append(int(order[best]))
        available[best] = False
        closest = np.maximum(closest, sims[best])
    return picked
