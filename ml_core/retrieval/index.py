"""A cosine-similarity vector index with stable string ids, persisted next to a model version.

Vectors are L2-normalised, so inner product is cosine similarity. faiss's exact flat index is
used: at the sizes a knowledge base or a catalogue reaches (up to ~10^5 vectors) it answers in
milliseconds and, unlike HNSW, supports removing and replacing entries, which is what lets an
index be updated incrementally when entries change instead of rebuilt.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..numeric import l2_normalise

INDEX_FILE = "index.faiss"
IDS_FILE = "index_ids.json"


@dataclass(frozen=True)
class SearchHit:
    id: str
    score: float


normalise = l2_normalise  # rows to unit length (cosine similarity as inner product)


class VectorIndex:
    """Add, replace, remove and search vectors by string id. Thread-safe."""

    def __init__(self, dimension: int) -> None:
        import faiss

        if dimension <= 0:
            raise ValueError("dimension must be positive")
        self.dimension = dimension
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._internal: dict[str, int] = {}
        self._external: dict[int, str] = {}
        self._next_internal = 0
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._internal)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._internal

    @property
    def ids(self) -> list[str]:
        return list(self._internal)

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors; an id that is already present has its vector replaced."""
        vectors = normalise(vectors)
        ids = [str(i) for i in ids]
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate ids in one add()")
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors have dimension {vectors.shape[1]}, the index {self.dimension}")
        with self._lock:
            self.remove([i for i in ids if i in self._internal])
            internal = np.arange(self._next_internal, self._next_internal + len(ids), dtype=np.int64)
            self._next_internal += len(ids)
            self._index.add_with_ids(vectors, internal)
            for item_id, number in zip(ids, internal.tolist()):
                self._internal[item_id] = number
                self._external[number] = item_id

    def remove(self, ids: Iterable[str]) -> int:
        with self._lock:
            numbers = [self._internal.pop(str(i)) for i in ids if str(i) in self._internal]
            if not numbers:
                return 0
            for number in numbers:
                del self._external[number]
            return int(self._index.remove_ids(np.asarray(numbers, dtype=np.int64)))

    def vector(self, item_id: str) -> np.ndarray:
        with self._lock:
            return self._index.reconstruct(self._internal[item_id])

    def search(self, queries: np.ndarray, k: int = 10,
               exclude: Iterable[str] | None = None) -> list[list[SearchHit]]:
        """The k nearest ids for each query vector, best first, skipping `exclude`."""
        queries = normalise(queries)
        excluded = set(exclude or ())
        with self._lock:
            if not self._internal or k <= 0:
                return [[] for _ in range(len(queries))]
            # Ask for enough neighbours that k remain after dropping the excluded ones.
            wanted = min(len(self._internal), k + len(excluded & self._internal.keys()))
            scores, numbers = self._index.search(queries, wanted)
            results = []
            for row_scores, row_numbers in zip(scores, numbers):
                hits = []
                for score, number in zip(row_scores.tolist(), row_numbers.tolist()):
                    if number < 0:
                        continue
                    item_id = self._external[number]
                    if item_id in excluded:
                        continue
                    hits.append(SearchHit(item_id, float(score)))
                    if len(hits) == k:
                        break
                results.append(hits)
            return results

    def save(self, folder: Path | str) -> None:
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            faiss.write_index(self._index, str(folder / INDEX_FILE))
            (folder / IDS_FILE).write_text(json.dumps({
                "dimension": self.dimension, "next": self._next_internal,
                "ids": {item_id: number for item_id, number in self._internal.items()},
            }))

    @classmethod
    def load(cls, folder: Path | str) -> VectorIndex:
        import faiss

        folder = Path(folder)
        meta = json.loads((folder / IDS_FILE).read_text())
        index = cls(meta["dimension"])
        index._index = faiss.read_index(str(folder / INDEX_FILE))
        index._internal = {k: int(v) for k, v in meta["ids"].items()}
        index._external = {v: k for k, v in index._internal.items()}
        index._next_internal = meta["next"]
        if index._index.ntotal != len(index._internal):
            raise ValueError(f"{folder}: index holds {index._index.ntotal} vectors but {len(index._internal)} ids")
        return index
