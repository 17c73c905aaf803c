"""Interaction data for recommenders: plain arrays, MovieLens 100K files, the evaluation split.

Everything here is framework-free: the Django app turns its rows into `Interactions`, the CLI
and the benchmark read files. Item and user ids are strings throughout (external ids).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ml_core.errors import UserError

# How much one event of each kind says about interest, relative to a rating. Events on the same
# (user, item) pair add up. Every rating counts as positive feedback (the evaluation protocol's
# "relevant = any rating in the test part").
KIND_WEIGHTS: dict[str, float] = {"view": 0.3, "click": 0.6, "rating": 1.0, "like": 1.0, "purchase": 1.5}


class RecsysDataError(UserError):
    """Interaction or catalogue data is malformed; the message names the file/line or row."""


@dataclass
class Interactions:
    """One row per event or per (user, item) pair: who, what, how strongly, when (epoch seconds)."""

    users: np.ndarray  # str objects
    items: np.ndarray  # str objects
    weights: np.ndarray  # float32
    timestamps: np.ndarray  # float64

    def __post_init__(self) -> None:
        self.users = np.asarray(self.users, dtype=object)
        self.items = np.asarray(self.items, dtype=object)
        self.weights = np.asarray(self.weights, dtype=np.float32)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        n = len(self.users)
        if not (len(self.items) == len(self.weights) == len(self.timestamps) == n):
            raise ValueError("users, items, weights and timestamps must have the same length")

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, float, float]]) -> Interactions:
        rows = list(rows)
        if not rows:
            return cls.empty()
        users, items, weights, timestamps = zip(*rows)
        return cls([str(u) for u in users], [str(i) for i in items], weights, timestamps)

    @classmethod
    def empty(cls) -> Interactions:
        return cls(np.array([], dtype=object), np.array([], dtype=object), [], [])

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: np.ndarray) -> Interactions:
        return Interactions(self.users[mask], self.items[mask], self.weights[mask], self.timestamps[mask])

    @property
    def user_ids(self) -> list[str]:
        return sorted(set(self.users.tolist()))

    @property
    def item_ids(self) -> list[str]:
        return sorted(set(self.items.tolist()))

    def aggregate(self) -> Interactions:
        """One row per (user, item): weights summed, the latest timestamp kept."""
        if len(self) == 0:
            return self
        keys = np.char.add(np.char.add(self.users.astype(str), "\x1f"), self.items.astype(str))
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        if len(unique) == len(self):
            return self
        weights = np.zeros(len(unique), dtype=np.float64)
        np.add.at(weights, inverse, self.weights)
        timestamps = np.full(len(unique), -np.inf)
        np.maximum.at(timestamps, inverse, self.timestamps)
        return Interactions(self.users[first], self.items[first], weights, timestamps)


@dataclass
class CatalogueItem:
    item_id: str
    title: str
    description: str = ""
    categories: list[str] = field(default_factory=list)
    attributes: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return item_text(self.title, self.description, self.categories)


def item_text(title: str, description: str = "", categories: Sequence[str] = ()) -> str:
    """The text an item is embedded from: what it is called, what it is about, where it belongs."""
    parts = [title.strip().rstrip(".") + "."]
    if description.strip():
        parts.append(description.strip())
    if categories and not any(c in description for c in categories):
        parts.append("Categories: " + ", ".join(categories) + ".")
    return " ".join(parts)


# --- the evaluation split ------------------------------------------------------------------------
def stratified_split(interactions: Interactions, ratio: float = 0.75,
                     seed: int = 42) -> tuple[Interactions, Interactions]:
    """Per-user stratified random split, as Microsoft Recommenders' `python_stratified_split`.

    Each row gets a uniform random number (NumPy's legacy generator seeded with `seed`, in input
    order); within each user, rows sorted by that number whose rank / count <= ratio go to the
    training part, the rest to the test part. Repeated (user, item) pairs are merged first, so no
    pair can be on both sides. A user with a single pair cannot be in both parts and stays in
    training only (MovieLens 100K has none: every user rated at least 20 films).
    """
    if not 0.0 < ratio < 1.0:
        raise RecsysDataError(f"split ratio must be between 0 and 1, not {ratio}")
    data = interactions.aggregate()
    n = len(data)
    if n == 0:
        return data, data
    random = np.random.RandomState(seed).rand(n)
    user_codes = np.unique(data.users.astype(str), return_inverse=True)[1]
    order = np.lexsort((random, user_codes))
    sorted_users = user_codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    lengths = np.diff(np.r_[starts, n])
    position = np.arange(n) - np.repeat(starts, lengths)  # 0-based rank within the user
    counts = np.repeat(lengths, lengths)
    in_train_sorted = ((position + 1) / counts <= ratio) | (counts == 1)
    in_train = np.empty(n, dtype=bool)
    in_train[order] = in_train_sorted
    return data.subset(in_train), data.subset(~in_train)


# --- matrices --------------------------------------------------------------------------------------
@dataclass
class InteractionMatrix:
    """Users x items: summed weights and the latest timestamp of each pair (same sparsity)."""

    user_ids: list[str]
    item_ids: list[str]
    weights: sp.csr_matrix
    timestamps: sp.csr_matrix

    @classmethod
    def build(cls, interactions: Interactions, item_ids: Sequence[str] | None = None,
              user_ids: Sequence[str] | None = None) -> InteractionMatrix:
        """Rows of unknown items (not in `item_ids`) are dropped; unknown users likewise."""
        data = interactions.aggregate()
        user_ids = list(user_ids) if user_ids is not None else data.user_ids
        item_ids = list(item_ids) if item_ids is not None else data.item_ids
        user_index = {u: n for n, u in enumerate(user_ids)}
        item_index = {i: n for n, i in enumerate(item_ids)}
        rows = np.fromiter((user_index.get(u, -1) for u in data.users), dtype=np.int64, count=len(data))
        cols = np.fromiter((item_index.get(i, -1) for i in data.items), dtype=np.int64, count=len(data))
        keep = (rows >= 0) & (cols >= 0)
        shape = (len(user_ids), len(item_ids))
        weights = sp.csr_matrix((data.weights[keep], (rows[keep], cols[keep])), shape=shape, dtype=np.float32)
        stamps = sp.csr_matrix((data.timestamps[keep], (rows[keep], cols[keep])), shape=shape, dtype=np.float64)
        weights.sort_indices()
        stamps.sort_indices()
        return cls(user_ids, item_ids, weights, stamps)

    @property
    def item_index(self) -> dict[str, int]:
        return {i: n for n, i in enumerate(self.item_ids)}

    def rows(self, user_ids: Sequence[str]) -> InteractionMatrix:
        index = {u: n for n, u in enumerate(self.user_ids)}
        picked = [index[u] for u in user_ids]
        return InteractionMatrix(list(user_ids), self.item_ids, self.weights[picked], self.timestamps[picked])


# --- files --------------------------------------------------------------------------------------
def _open_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    if not path.is_file():
        raise RecsysDataError(f"{path} does not exist")
    try:
        return path.read_text(encoding=encoding).splitlines()
    except UnicodeDecodeError as exc:
        raise RecsysDataError(f"{path} is not {encoding} text: {exc}") from exc


def read_interactions_file(path: Path | str) -> Interactions:
    """Read `user item [rating [timestamp]]` lines (tab, comma or space separated, u.data style).

    Every line becomes one positive interaction of weight 1; a missing timestamp is 0.
    """
    path = Path(path)
    rows = []
    for number, line in enumerate(_open_lines(path), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.replace(",", "\t").split()
        if len(fields) < 2:
            raise RecsysDataError(f"{path.name} line {number}: expected 'user item [rating [timestamp]]', got {line!r}")
        timestamp = 0.0
        if len(fields) >= 4:
            try:
                timestamp = float(fields[3])
            except ValueError:
                raise RecsysDataError(f"{path.name} line {number}: timestamp {fields[3]!r} is not a number") from None
        rows.append((fields[0], fields[1], 1.0, timestamp))
    if not rows:
        raise RecsysDataError(f"{path.name} holds no interactions")
    return Interactions.from_rows(rows)


@dataclass
class MovieLensData:
    """MovieLens 100K as plain data: ratings (weight 1, rating kept apart), films, users, genres."""

    interactions: Interactions
    ratings: np.ndarray  # int8, aligned with interactions
    items: list[CatalogueItem]
    users: list[dict]
    genres: list[str]


MOVIELENS_FILES = ("u.data", "u.item", "u.user", "u.genre")


def _ml_error(path: Path, number: int, problem: str) -> RecsysDataError:
    return RecsysDataError(f"{path.name} line {number}: {problem}")


def _ml_int(path: Path, number: int, value: str, what: str, low: int | None = None,
            high: int | None = None) -> int:
    try:
        parsed = int(value)
    except ValueError:
        raise _ml_error(path, number, f"{what} {value!r} is not a whole number") from None
    if (low is not None and parsed < low) or (high is not None and parsed > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _ml_error(path, number, f"{what} {parsed} must be {bounds}")
    return parsed


def _movielens_year(title: str, release_date: str) -> int | None:
    if len(release_date) >= 4 and release_date[-4:].isdigit():
        return int(release_date[-4:])
    if title.endswith(")") and title[-5:-1].isdigit():
        return int(title[-5:-1])
    return None


def movielens_description(title: str, year: int | None, genres: Sequence[str]) -> str:
    """A film's text beyond its title: the year when the title lacks it, then the genres."""
    parts = []
    if year and str(year) not in title:
        parts.append(f"Released in {year}.")
    if genres:
        parts.append(f"Genres: {', '.join(genres)}.")
    return " ".join(parts)


def _read_genres(path: Path) -> list[str]:
    genres: list[str] = []
    for number, line in enumerate(_open_lines(path, "latin-1"), start=1):
        if not line.strip():
            continue
        name, sep, index = line.partition("|")
        if not sep or not name:
            raise _ml_error(path, number, f"expected 'genre|index', got {line!r}")
        if _ml_int(path, number, index, "genre index", 0) != len(genres):
            raise _ml_error(path, number, f"genre index {index} is out of order (expected {len(genres)})")
        genres.append(name)
    if not genres:
        raise RecsysDataError(f"{path.name} lists no genres")
    return genres


def _read_films(path: Path, genres: list[str]) -> list[CatalogueItem]:
    """u.item: id|title|release date|video release date|IMDb URL|one 0/1 flag per genre."""
    items: list[CatalogueItem] = []
    item_ids: set[str] = set()
    width = 5 + len(genres)
    for number, line in enumerate(_open_lines(path, "latin-1"), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != width:
            raise _ml_error(path, number, f"expected {width} '|'-separated fields, found {len(fields)}")
        item_id = str(_ml_int(path, number, fields[0], "movie id", 1))
        if item_id in item_ids:
            raise _ml_error(path, number, f"movie id {item_id} appears twice")
        flags = fields[5:]
        if any(flag not in ("0", "1") for flag in flags):
            raise _ml_error(path, number, "genre flags must be 0 or 1")
        title = fields[1].strip()
        if not title:
            raise _ml_error(path, number, "the title is empty")
        item_genres = [g for g, flag in zip(genres, flags) if flag == "1" and g != "unknown"]
        year = _movielens_year(title, fields[2].strip())
        attributes = {"release_date": fields[2].strip(), "imdb_url": fields[4].strip()}
        if year:
            attributes["year"] = year
        items.append(CatalogueItem(item_id, title, movielens_description(title, year, item_genres),
                                   item_genres, attributes))
        item_ids.add(item_id)
    return items


def load_movielens(folder: Path | str) -> MovieLensData:
    """Parse and check u.genre, u.item, u.user and u.data; errors name the file and line."""
    folder = Path(folder)
    missing = [name for name in MOVIELENS_FILES if not (folder / name).is_file()]
    if missing:
        raise RecsysDataError(f"{folder} lacks {', '.join(missing)} (MovieLens 100K files)")

    genres = _read_genres(folder / "u.genre")
    items = _read_films(folder / "u.item", genres)
    item_ids = {item.item_id for item in items}

    path = folder / "u.user"
    users: list[dict] = []
    user_ids: set[str] = set()
    for number, line in enumerate(_open_lines(path, "latin-1"), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 5:
            raise _ml_error(path, number, f"expected 5 '|'-separated fields, found {len(fields)}")
        user_id = str(_ml_int(path, number, fields[0], "user id", 1))
        if user_id in user_ids:
            raise _ml_error(path, number, f"user id {user_id} appears twice")
        age = _ml_int(path, number, fields[1], "age", 0, 150)
        users.append({"user_id": user_id, "age": age, "gender": fields[2], "occupation": fields[3],
                      "zip_code": fields[4]})
        user_ids.add(user_id)

    path = folder / "u.data"
    lines = _open_lines(path, "latin-1")
    u_col, i_col, ratings, stamps = [], [], [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise _ml_error(path, number, f"expected 4 tab-separated fields (user item rating timestamp), found {len(fields)}")
        user_id = str(_ml_int(path, number, fields[0], "user id", 1))
        item_id = str(_ml_int(path, number, fields[1], "movie id", 1))
        rating = _ml_int(path, number, fields[2], "rating", 1, 5)
        timestamp = _ml_int(path, number, fields[3], "timestamp", 0)
        if user_id not in user_ids:
            raise _ml_error(path, number, f"user {user_id} is not in u.user")
        if item_id not in item_ids:
            raise _ml_error(path, number, f"movie {item_id} is not in u.item")
        u_col.append(user_id)
        i_col.append(item_id)
        ratings.append(rating)
        stamps.append(timestamp)
    if not u_col:
        raise RecsysDataError(f"{path.name} holds no ratings")
    interactions = Interactions(u_col, i_col, np.ones(len(u_col), dtype=np.float32), stamps)
    if len(interactions.aggregate()) != len(interactions):
        raise RecsysDataError(f"{path.name} rates some (user, movie) pair more than once")
    return MovieLensData(interactions, np.asarray(ratings, dtype=np.int8), items, users, genres)


def half_life_decay(age_s: np.ndarray, half_life_days: float) -> np.ndarray:
    """Weight of an event `age_s` seconds older than the user's latest one."""
    if not half_life_days or half_life_days <= 0 or math.isinf(half_life_days):
        return np.ones_like(age_s, dtype=np.float64)
    return np.power(0.5, np.maximum(age_s, 0.0) / (half_life_days * 86400.0))


def read_catalogue_file(path: Path | str) -> list[CatalogueItem]:
    """Items from a MovieLens u.item file or from JSON Lines ({"id", "title", "description", "categories"})."""
    import json

    path = Path(path)
    if path.name == "u.item":
        return _read_films(path, _read_genres(path.parent / "u.genre"))
    items = []
    for number, line in enumerate(_open_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(CatalogueItem(str(row["id"]), str(row["title"]), str(row.get("description") or ""),
                                       [str(c) for c in row.get("categories") or []]))
        except (ValueError, KeyError, TypeError) as exc:
            raise RecsysDataError(f"{path.name} line {number}: expected a JSON object with id and title ({exc})") from None
    if not items:
        raise RecsysDataError(f"{path.name} holds no items")
    return items
