"""Fit, tune and evaluate the recommenders under one protocol; build the bundle that is served.

The protocol (Microsoft Recommenders' on MovieLens 100K): per-user stratified 75/25 split,
top-10 lists of items the user did not have in training, relevance = being in the test part.
The hybrid's weights are tuned on a validation split carved out of the training part only
(per-user stratified again), so the test part is never looked at before the final figures.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp

from ml_core.options import options_from_dict
from ml_core.progress import ProgressCallback, no_progress, sub_progress

from .data import InteractionMatrix, Interactions, RecsysDataError, stratified_split
from .metrics import (
    catalogue_coverage,
    intra_list_diversity,
    metrics_from_hits,
    novelty,
    top_k,
)
from .models import (
    ALSModel,
    BPRModel,
    ContentModel,
    HistoryBatch,
    ItemKNNModel,
    PopularityModel,
)

log = logging.getLogger(__name__)

ALL_MODELS = ("popularity", "item_knn", "als", "bpr", "content", "hybrid")
HYBRID_COMPONENTS = ("popularity", "item_knn", "als", "content")


@dataclass
class RecsysConfig:
    k: int = 10
    split_ratio: float = 0.75
    seed: int = 42
    knn_neighbours: int = 200
    knn_shrink: float = 10.0
    als_factors: int = 16
    als_regularization: float = 0.05
    als_alpha: float = 5.0
    als_iterations: int = 20
    bpr_factors: int = 200
    bpr_learning_rate: float = 0.01
    bpr_regularization: float = 0.001
    bpr_iterations: int = 60
    content_half_life_days: float = 120.0
    hybrid_components: tuple[str, ...] = HYBRID_COMPONENTS
    # Share of the training part the components are fitted on while the weights are tuned on the rest.
    validation_ratio: float = 0.8
    tuning_trials: int = 60
    # Fewer distinct items than this in a history: content-based results (cold start).
    cold_start_min_items: int = 5
    # Blend of behaviour (item-kNN) and text (content) for "similar items".
    similar_content_weight: float = 0.5
    # implicit's threads for ALS/BPR. One is fastest up to a few hundred thousand interactions
    # (more threads mostly wait on each other, the more so on a busy machine); 0 means all cores.
    threads: int = 1

    @classmethod
    def from_dict(cls, values: dict) -> RecsysConfig:
        return options_from_dict(cls, values, error=RecsysDataError, unknown="unknown recommender settings")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["hybrid_components"] = list(self.hybrid_components)
        return out


def build_model(name: str, config: RecsysConfig):
    if name == "popularity":
        return PopularityModel()
    if name == "item_knn":
        return ItemKNNModel(config.knn_neighbours, config.knn_shrink)
    if name == "als":
        return ALSModel(config.als_factors, config.als_regularization, config.als_alpha,
                        config.als_iterations, config.seed, config.threads)
    if name == "bpr":
        return BPRModel(config.bpr_factors, config.bpr_learning_rate, config.bpr_regularization,
                        config.bpr_iterations, config.seed, config.threads)
    if name == "content":
        return ContentModel(config.content_half_life_days)
    raise RecsysDataError(f"unknown model {name!r}; known: {', '.join(ALL_MODELS)}")


def fit_model(model, matrix: InteractionMatrix, embeddings: np.ndarray | None):
    if isinstance(model, ContentModel):
        if embeddings is None:
            raise RecsysDataError("the content model needs item embeddings (item texts)")
        return model.fit(embeddings)
    return model.fit(matrix.weights)


# --- blending ------------------------------------------------------------------------------------
def standardise(scores: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Per-user z-scores over the candidate items, so models on different scales can be added."""
    scores = np.asarray(scores, dtype=np.float64)
    candidate = ~excluded
    n = np.maximum(candidate.sum(axis=1, keepdims=True), 1)
    masked = np.where(candidate, scores, 0.0)
    mean = masked.sum(axis=1, keepdims=True) / n
    var = (np.where(candidate, (scores - mean) ** 2, 0.0)).sum(axis=1, keepdims=True) / n
    return (scores - mean) / np.sqrt(var + 1e-12)


def blend(standardised: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    total = None
    for name, weight in weights.items():
        if weight and name in standardised:
            part = weight * standardised[name]
            total = part if total is None else total + part
    if total is None:
        raise RecsysDataError("the hybrid has no component with a positive weight")
    return total


def tune_weights(standardised: dict[str, np.ndarray], excluded: np.ndarray, relevant: sp.csr_matrix,
                 k: int, trials: int, seed: int, progress: ProgressCallback = no_progress) -> tuple[dict, float]:
    """Search the blend weights (TPE, optuna) that maximise validation nDCG@k."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = sorted(standardised)
    n_relevant = np.diff(relevant.indptr)
    rows = np.flatnonzero(n_relevant > 0)
    relevant_rows = relevant[rows]
    parts = {name: standardised[name][rows] for name in names}
    excluded_rows = excluded[rows]

    def ndcg(weights: dict[str, float]) -> float:
        scores = np.where(excluded_rows, -np.inf, blend(parts, weights))
        hits = _hits(top_k(scores, k), relevant_rows)
        return metrics_from_hits(hits, n_relevant[rows], k)[f"ndcg@{k}"]

    def objective(trial) -> float:
        weights = {name: trial.suggest_float(name, 0.0, 1.0) for name in names}
        if not any(weights.values()):
            return 0.0
        return ndcg(weights)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({name: 1.0 for name in names})  # the plain average is always tried
    for number in range(trials):
        study.optimize(objective, n_trials=1)
        progress(100.0 * (number + 1) / trials, f"tuning the blend: trial {number + 1}/{trials}")
    total = sum(study.best_params.values()) or 1.0
    return {name: round(study.best_params[name] / total, 4) for name in names}, float(study.best_value)


def _hits(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    hits = np.zeros(top.shape, dtype=np.float64)
    for row in range(top.shape[0]):
        wanted = relevant.indices[relevant.indptr[row]:relevant.indptr[row + 1]]
        hits[row] = np.isin(top[row], wanted)
    return hits


# --- evaluation ------------------------------------------------------------------------------------
@dataclass
class EvalSet:
    """Histories (training part) and relevant items (test part) of the evaluated users."""

    train: InteractionMatrix
    relevant: sp.csr_matrix  # evaluated users x items, 1 where in the test part
    n_relevant: np.ndarray  # includes test items outside the catalogue (they count, unrecommendable)
    user_rows: np.ndarray  # rows of the evaluated users in `train`

    @property
    def history(self) -> HistoryBatch:
        return HistoryBatch(self.train.weights[self.user_rows], self.train.timestamps[self.user_rows],
                            self.user_rows)

    @property
    def excluded(self) -> np.ndarray:
        return np.asarray(self.train.weights[self.user_rows].todense() > 0)


def make_eval_set(train: Interactions, test: Interactions, item_ids: Sequence[str]) -> EvalSet:
    matrix = InteractionMatrix.build(train, item_ids=item_ids)
    index = {u: n for n, u in enumerate(matrix.user_ids)}
    test = test.aggregate()
    by_user: dict[str, list[str]] = {}
    for user, item in zip(test.users.tolist(), test.items.tolist()):
        if user in index:
            by_user.setdefault(user, []).append(item)
    users = sorted(by_user, key=lambda u: index[u])
    item_index = matrix.item_index
    rows, cols = [], []
    for n, user in enumerate(users):
        for item in by_user[user]:
            if item in item_index:
                rows.append(n)
                cols.append(item_index[item])
    relevant = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(users), len(item_ids)))
    relevant.sort_indices()
    return EvalSet(matrix, relevant, np.array([len(by_user[u]) for u in users]),
                   np.array([index[u] for u in users], dtype=np.int64))


def _rank(scores: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
    return top_k(np.where(excluded, -np.inf, scores), k)


def _report(name: str, top: np.ndarray, evalset: EvalSet, k: int, train_s: float,
            vectors: np.ndarray | None) -> dict:
    hits = _hits(top, evalset.relevant)
    row = {"model": name, **metrics_from_hits(hits, evalset.n_relevant, k)}
    item_ids = evalset.train.item_ids
    lists = {str(n): [item_ids[i] for i in items] for n, items in enumerate(top.tolist())}
    counts = np.asarray((evalset.train.weights > 0).sum(axis=0)).ravel()
    row["coverage"] = catalogue_coverage(lists, len(item_ids))
    row["diversity"] = (intra_list_diversity(lists, dict(zip(item_ids, vectors)))
                        if vectors is not None else None)
    row["novelty"] = novelty(lists, dict(zip(item_ids, counts.tolist())), evalset.train.weights.shape[0])
    row["train_s"] = round(train_s, 2)
    return row


@dataclass
class EvaluationResult:
    rows: list[dict]
    weights: dict[str, float]
    validation_ndcg: float | None
    models: dict = field(default_factory=dict)  # fitted on the training part


def _validation_split(train: Interactions, config: RecsysConfig, item_ids: Sequence[str]) -> EvalSet | None:
    inner, validation = stratified_split(train, config.validation_ratio, config.seed + 1)
    if len(validation) == 0:
        return None
    evalset = make_eval_set(inner, validation, item_ids)
    return evalset if len(evalset.user_rows) else None


def tune_hybrid(train: Interactions, item_ids: Sequence[str], embeddings: np.ndarray | None,
                config: RecsysConfig, progress: ProgressCallback = no_progress) -> tuple[dict, float | None]:
    """Fit the components on part of `train`, tune the blend on the rest; returns weights, val nDCG."""
    components = [c for c in config.hybrid_components if c != "content" or embeddings is not None]
    validation = _validation_split(train, config, item_ids)
    if validation is None or len(components) < 2:
        log.warning("too little data to tune the hybrid: equal weights")
        return {c: round(1.0 / len(components), 4) for c in components}, None
    excluded = validation.excluded
    standardised = {}
    for n, name in enumerate(components):
        model = fit_model(build_model(name, config), validation.train, embeddings)
        standardised[name] = standardise(model.score(validation.history), excluded)
        progress(40.0 * (n + 1) / len(components), f"fitted {name} on the validation split")
    return tune_weights(standardised, excluded, validation.relevant, config.k, config.tuning_trials,
                        config.seed, sub_progress(progress, 40, 100))


def evaluate_models(train: Interactions, test: Interactions, item_ids: Sequence[str],
                    embeddings: np.ndarray | None, config: RecsysConfig,
                    models: Sequence[str] = ALL_MODELS, embed_s: float = 0.0,
                    progress: ProgressCallback = no_progress) -> EvaluationResult:
    """Fit each model on `train`, rank for every test user, and report the protocol's metrics.

    `item_ids` is the catalogue (aligned with `embeddings`); `embed_s` is the time it took to
    embed it, counted in the training time of the models that need embeddings.
    """
    unknown = [m for m in models if m not in ALL_MODELS]
    if unknown:
        raise RecsysDataError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(ALL_MODELS)}")
    if embeddings is None:
        models = [m for m in models if m != "content"]
    evalset = make_eval_set(train, test, item_ids)
    if len(evalset.user_rows) == 0:
        raise RecsysDataError("no test user has training interactions: nothing to evaluate")
    k = config.k
    excluded = evalset.excluded
    history = evalset.history
    single = [m for m in models if m != "hybrid"]
    needed = list(dict.fromkeys(single + (list(config.hybrid_components) if "hybrid" in models else [])))
    if embeddings is None:
        needed = [m for m in needed if m != "content"]
    vectors = None
    fitted, fit_s, scores = {}, {}, {}
    steps = len(needed) + (1 if "hybrid" in models else 0)
    for n, name in enumerate(needed):
        started = time.perf_counter()
        fitted[name] = fit_model(build_model(name, config), evalset.train, embeddings)
        fit_s[name] = time.perf_counter() - started + (embed_s if name == "content" else 0.0)
        scores[name] = fitted[name].score(history)
        if name == "content":
            vectors = fitted[name].vectors
        progress(100.0 * (n + 1) / steps, f"fitted and scored {name}")
    rows = [_report(name, _rank(scores[name], excluded, k), evalset, k, fit_s[name], vectors)
            for name in single]
    weights, validation_ndcg = {}, None
    if "hybrid" in models:
        started = time.perf_counter()
        weights, validation_ndcg = tune_hybrid(train, item_ids, embeddings, config,
                                               sub_progress(progress, 100.0 * len(needed) / steps, 100))
        tune_s = time.perf_counter() - started
        blended = blend({name: standardise(scores[name], excluded) for name in weights}, weights)
        hybrid_s = tune_s + sum(fit_s[name] for name in weights)
        row = _report("hybrid", _rank(blended, excluded, k), evalset, k, hybrid_s, vectors)
        row["weights"] = weights
        rows.append(row)
    return EvaluationResult(rows, weights, validation_ndcg, fitted)
