"""A small synthetic world with clear tastes: three clusters of ten items, users who mostly pick
from one cluster, and item embeddings near their cluster's centre."""
from __future__ import annotations

import numpy as np
import pytest

from ml_core.recsys.data import CatalogueItem, Interactions
from ml_core.recsys.training import RecsysConfig

CLUSTERS = ("crime", "space", "cooking")


def cluster_of(item_id: str) -> str:
    return CLUSTERS[int(item_id[1:]) // 10]


@pytest.fixture(scope="session")
def world():
    rng = np.random.default_rng(3)
    items = [CatalogueItem(f"i{n}", f"{CLUSTERS[n // 10].title()} item {n}", categories=[CLUSTERS[n // 10]])
             for n in range(30)]
    centres = rng.normal(size=(3, 16))
    embeddings = np.stack([centres[n // 10] + 0.3 * rng.normal(size=16) for n in range(30)]).astype(np.float32)
    rows = []
    for user in range(90):
        home = user % 3
        picks = list(rng.choice(10, size=7, replace=False) + 10 * home)
        picks.append(int(rng.integers(0, 30)))
        for n, item in enumerate(dict.fromkeys(picks)):
            rows.append((f"u{user}", f"i{item}", 1.0, 1_000_000.0 + 3600 * n))
    return {"items": items, "embeddings": embeddings, "interactions": Interactions.from_rows(rows)}


@pytest.fixture(scope="session")
def config():
    return RecsysConfig(tuning_trials=8, als_factors=8, knn_neighbours=20, cold_start_min_items=4)
