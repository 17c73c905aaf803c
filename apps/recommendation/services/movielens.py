"""Importing MovieLens 100K: all-or-nothing; the first bad line is named and nothing is stored."""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from ml_core.progress import ProgressCallback, no_progress
from ml_core.recsys import load_movielens

from ..models import EndUser, Interaction, Item
from .batches import import_chunk_rows
from .catalogue import _store_items


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
