"""A small shop (three clusters of items, users with one taste each) and a model trained on it
with the tiny random encoder: fast plumbing, not quality."""
from __future__ import annotations

import datetime as dt

import pytest

from apps.recommendation import services, serving

CLUSTERS = {
    "Crime": ["detective", "inspector", "murder", "spy", "heist", "alibi", "witness", "clue"],
    "Space": ["rocket", "orbit", "planet", "station", "comet", "galaxy", "astronaut", "signal"],
    "Cooking": ["bread", "soup", "spice", "knife", "oven", "pasta", "salad", "cake"],
}


def shop_items() -> list[dict]:
    return [{"id": f"{cat.lower()}-{n}", "title": f"The {word} ({cat.lower()})",
             "description": f"A {cat.lower()} story about a {word}.", "categories": [cat]}
            for cat, words in CLUSTERS.items() for n, word in enumerate(words)]


def shop_events(users: int = 24) -> list[dict]:
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    events = []
    cats = list(CLUSTERS)
    for u in range(users):
        cat = cats[u % 3].lower()
        for n in range(6):
            item = f"{cat}-{(u + n) % 8}"
            events.append({"user": f"user-{u}", "item": item, "kind": "like" if n % 2 else "view",
                           "timestamp": (start + dt.timedelta(hours=u * 10 + n)).isoformat(),
                           "event_id": f"ev-{u}-{n}"})
    return events


@pytest.fixture(autouse=True)
def _fresh_serving_caches(monkeypatch):
    # Serving notices catalogue changes within CATALOGUE_CHECK_INTERVAL_S; tests look at once.
    monkeypatch.setattr(serving, "CATALOGUE_CHECK_INTERVAL_S", 0.0)
    serving.clear_caches()
    yield
    serving.clear_caches()


@pytest.fixture
def tiny_backbone(settings, tiny_encoder_path):
    settings.ML_BACKBONE = str(tiny_encoder_path)
    return settings.ML_BACKBONE


@pytest.fixture
def shop(db):
    assert services.items_upsert(items=shop_items(), start_embedding=False).created == 24
    assert services.interactions_record(events=shop_events()).created == 24 * 6


TRAINING_PARAMS = {"activate": "always", "config": {"tuning_trials": 4, "als_factors": 8, "knn_neighbours": 20}}


@pytest.fixture
def trained(shop, tiny_backbone):
    version, message = services.recommender_train(params=TRAINING_PARAMS)
    assert version.is_active or "activated" in message
    version.refresh_from_db()
    return version
