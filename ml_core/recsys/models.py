"""The recommenders. Each scores every catalogue item for a batch of user histories.

A history batch is the users x items matrix of their interaction weights (and timestamps), so the
same code scores the evaluation users and one user at serving time, from whatever they did up
to now: item-kNN, ALS (by folding the user in) and the content model all read the history, not
a user table frozen at training time, which is what lets a new user be served at once.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .data import half_life_decay

log = logging.getLogger(__name__)


@dataclass
class HistoryBatch:
    """Users x items: interaction weights, latest timestamps, and rows in the training matrix.

    `training_rows[u]` is the user's row in the matrix the models were fitted on, or -1; only
    models that keep per-user state (BPR) use it.
    """

    weights: sp.csr_matrix
    timestamps: sp.csr_matrix | None = None
    training_rows: np.ndarray | None = None

    @property
    def n_users(self) -> int:
        return self.weights.shape[0]


def binarize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = matrix.copy().astype(np.float32)
    out.data[:] = 1.0
    return out


def _times_transposed(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """rows @ matrix.T. One row (serving) goes as a matrix-vector product: a 1 x n matrix product
    wakes every BLAS thread, which on a busy server costs milliseconds instead of microseconds."""
    if rows.shape[0] == 1:
        return (matrix @ rows[0])[None, :]
    return rows @ matrix.T


def _pad_columns(matrix: sp.csr_matrix, n_items: int) -> sp.csr_matrix:
    if matrix.shape[1] == n_items:
        return matrix
    return sp.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=(matrix.shape[0], n_items))


class PopularityModel:
    """How many users interacted with each item (log-scaled): the same list for everyone."""

    name = "popularity"

    def __init__(self) -> None:
        self.user_counts = np.zeros(0)

    def fit(self, weights: sp.csr_matrix) -> PopularityModel:
        self.user_counts = np.asarray(binarize(weights).sum(axis=0)).ravel().astype(np.float64)
        return self

    def score(self, batch: HistoryBatch) -> np.ndarray:
        return np.tile(np.log1p(self.user_counts), (batch.n_users, 1))

    def add_items(self, count: int) -> None:
        self.user_counts = np.r_[self.user_counts, np.zeros(count)]

    def save(self, folder: Path) -> None:
        np.save(folder / "popularity.npy", self.user_counts)

    @classmethod
    def load(cls, folder: Path) -> PopularityModel:
        model = cls()
        model.user_counts = np.load(folder / "popularity.npy")
        return model


class ItemKNNModel:
    """Item-based collaborative filtering: cosine similarity of the items' user sets, shrunk
    towards zero for rare co-occurrences, keeping each item's `neighbours` nearest items.

    score(u, i) = sum over the user's items j of weight(u, j) * sim(j, i).
    """

    name = "item_knn"

    def __init__(self, neighbours: int = 200, shrink: float = 10.0) -> None:
        self.neighbours = neighbours
        self.shrink = shrink
        self.similarity = sp.csr_matrix((0, 0))  # rows: history item j, columns: candidate i

    def fit(self, weights: sp.csr_matrix) -> ItemKNNModel:
        binary = binarize(weights).tocsc()
        co = (binary.T @ binary).tocoo()  # items x items co-occurrence counts
        counts = np.asarray(binary.sum(axis=0)).ravel().astype(np.float64)
        off_diagonal = co.row != co.col
        rows, cols, together = co.row[off_diagonal], co.col[off_diagonal], co.data[off_diagonal]
        sim = together / (np.sqrt(counts[rows] * counts[cols]) + self.shrink)
        self.similarity = self._keep_top(rows, cols, sim, len(counts))
        return self

    def _keep_top(self, rows, cols, values, n) -> sp.csr_matrix:
        # For each candidate item (column) keep its `neighbours` most similar history items.
        matrix = sp.csc_matrix((values, (rows, cols)), shape=(n, n))
        matrix.sort_indices()
        keep_rows, keep_cols, keep_vals = [], [], []
        for col in range(n):
            start, end = matrix.indptr[col], matrix.indptr[col + 1]
            data = matrix.data[start:end]
            idx = matrix.indices[start:end]
            if len(data) > self.neighbours:
                best = np.argpartition(-data, self.neighbours - 1)[: self.neighbours]
                data, idx = data[best], idx[best]
            keep_rows.append(idx)
            keep_cols.append(np.full(len(idx), col))
            keep_vals.append(data)
        if not keep_rows:
            return sp.csr_matrix((n, n))
        return sp.csr_matrix(
            (np.concatenate(keep_vals).astype(np.float32),
             (np.concatenate(keep_rows), np.concatenate(keep_cols))), shape=(n, n))

    def score(self, batch: HistoryBatch) -> np.ndarray:
        return np.asarray((batch.weights @ self.similarity).todense(), dtype=np.float64)

    def neighbours_of(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        """Items most similar to `item` (as history: what to recommend after it), with similarity."""
        row = self.similarity.getrow(item)
        return row.indices, row.data.astype(np.float64)

    def add_items(self, count: int) -> None:
        n = self.similarity.shape[0] + count
        self.similarity = sp.csr_matrix(
            (self.similarity.data, self.similarity.indices,
             np.r_[self.similarity.indptr, np.full(count, self.similarity.indptr[-1])]), shape=(n, n))

    def save(self, folder: Path) -> None:
        sp.save_npz(folder / "item_knn.npz", self.similarity)
        (folder / "item_knn.json").write_text(json.dumps({"neighbours": self.neighbours, "shrink": self.shrink}))

    @classmethod
    def load(cls, folder: Path) -> ItemKNNModel:
        model = cls(**json.loads((folder / "item_knn.json").read_text()))
        model.similarity = sp.load_npz(folder / "item_knn.npz").tocsr()
        return model


class ALSModel:
    """Matrix factorisation for implicit feedback (Hu, Koren & Volinsky), fitted with `implicit`.

    Users are folded in from their current history with the same least-squares step ALS uses in
    training: x_u = (Y'Y + reg I + sum_i (c_ui - 1) y_i y_i')^-1 sum_i c_ui y_i, c_ui = alpha w_ui.
    """

    name = "als"

    def __init__(self, factors: int = 16, regularization: float = 0.05, alpha: float = 5.0,
                 iterations: int = 20, seed: int = 42, threads: int = 1) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.threads = threads
        self.item_factors = np.zeros((0, factors), dtype=np.float32)

    def fit(self, weights: sp.csr_matrix) -> ALSModel:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):  # implicit's own threads; BLAS threads would fight them
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, random_state=self.seed, num_threads=self.threads,
            )
            model.fit(weights.astype(np.float32).tocsr(), show_progress=False)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        self._fitted_user_factors = np.asarray(model.user_factors, dtype=np.float32)
        return self

    def user_factors(self, weights: sp.csr_matrix) -> np.ndarray:
        Y = self.item_factors.astype(np.float64)
        base = Y.T @ Y + self.regularization * np.eye(Y.shape[1])
        out = np.zeros((weights.shape[0], Y.shape[1]))
        weights = weights.tocsr()
        for u in range(weights.shape[0]):
            start, end = weights.indptr[u], weights.indptr[u + 1]
            if start == end:
                continue
            items = weights.indices[start:end]
            confidence = self.alpha * weights.data[start:end].astype(np.float64)
            Yu = Y[items]
            A = base + (Yu * (confidence - 1.0)[:, None]).T @ Yu
            out[u] = np.linalg.solve(A, Yu.T @ confidence)
        return out

    def score(self, batch: HistoryBatch) -> np.ndarray:
        return _times_transposed(self.user_factors(batch.weights), self.item_factors.astype(np.float64))

    def add_items(self, count: int) -> None:
        self.item_factors = np.vstack([self.item_factors, np.zeros((count, self.item_factors.shape[1]), np.float32)])

    def save(self, folder: Path) -> None:
        np.save(folder / "als_item_factors.npy", self.item_factors)
        (folder / "als.json").write_text(json.dumps({
            "factors": self.factors, "regularization": self.regularization, "alpha": self.alpha,
            "iterations": self.iterations, "seed": self.seed,
        }))

    @classmethod
    def load(cls, folder: Path) -> ALSModel:
        model = cls(**json.loads((folder / "als.json").read_text()))
        model.item_factors = np.load(folder / "als_item_factors.npy")
        return model


class BPRModel:
    """Bayesian personalised ranking (implicit's implementation). Keeps per-user factors, so it
    scores only users seen in training; evaluated for comparison, not served."""

    name = "bpr"

    def __init__(self, factors: int = 200, learning_rate: float = 0.01, regularization: float = 0.001,
                 iterations: int = 60, seed: int = 42, threads: int = 1) -> None:
        self.params = {"factors": factors, "learning_rate": learning_rate, "regularization": regularization,
                           "iterations": iterations}
        self.seed = seed
        self.threads = threads

    def fit(self, weights: sp.csr_matrix) -> BPRModel:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model = BayesianPersonalizedRanking(**self.params, random_state=self.seed, num_threads=self.threads)
        model.fit(binarize(weights).tocsr(), show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float64)
        return self

    def score(self, batch: HistoryBatch) -> np.ndarray:
        if batch.training_rows is None:
            raise ValueError("BPR scores only users of its training matrix: pass training_rows")
        rows = np.asarray(batch.training_rows)
        factors = np.where((rows >= 0)[:, None], self.user_factors[np.maximum(rows, 0)], 0.0)
        return factors @ self.item_factors.T


class ContentModel:
    """Items as sentence embeddings of their text; a user as the recency-weighted mean of the
    items they interacted with. Vectors are centred on the catalogue mean first: embeddings of
    one catalogue share a large common direction that says nothing about taste."""

    name = "content"

    def __init__(self, half_life_days: float = 120.0) -> None:
        self.half_life_days = half_life_days
        self.mean = np.zeros(0, dtype=np.float32)
        self.vectors = np.zeros((0, 0), dtype=np.float32)

    def fit(self, embeddings: np.ndarray) -> ContentModel:
        embeddings = np.asarray(embeddings, dtype=np.float32)
        self.mean = embeddings.mean(axis=0) if len(embeddings) else np.zeros(embeddings.shape[1], np.float32)
        self.vectors = self.centre(embeddings)
        return self

    def centre(self, embeddings: np.ndarray) -> np.ndarray:
        centred = np.asarray(embeddings, dtype=np.float32) - self.mean
        return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-9)

    def recency_weights(self, batch: HistoryBatch) -> sp.csr_matrix:
        weights = batch.weights.tocsr().astype(np.float64)
        if batch.timestamps is None or not self.half_life_days:
            return weights
        stamps = batch.timestamps.tocsr()
        out = weights.copy()
        for u in range(weights.shape[0]):
            start, end = stamps.indptr[u], stamps.indptr[u + 1]
            if start == end:
                continue
            t = stamps.data[start:end]
            out.data[start:end] *= half_life_decay(t.max() - t, self.half_life_days)
        return out

    def profiles(self, batch: HistoryBatch) -> np.ndarray:
        # float32 like the vectors: a float64 sparse matrix would make scipy copy them all to float64.
        weights = _pad_columns(self.recency_weights(batch), len(self.vectors)).astype(np.float32)
        profile = np.asarray(weights @ self.vectors, dtype=np.float64)
        return profile / np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-9)

    def score(self, batch: HistoryBatch) -> np.ndarray:
        return _times_transposed(self.profiles(batch).astype(np.float32), self.vectors).astype(np.float64)

    def add_vectors(self, embeddings: np.ndarray) -> np.ndarray:
        centred = self.centre(embeddings)
        self.vectors = np.vstack([self.vectors, centred])
        return centred

    def save(self, folder: Path) -> None:
        np.save(folder / "content_vectors.npy", self.vectors)
        np.save(folder / "content_mean.npy", self.mean)
        (folder / "content.json").write_text(json.dumps({"half_life_days": self.half_life_days}))

    @classmethod
    def load(cls, folder: Path) -> ContentModel:
        model = cls(**json.loads((folder / "content.json").read_text()))
        model.vectors = np.load(folder / "content_vectors.npy")
        model.mean = np.load(folder / "content_mean.npy")
        return model
