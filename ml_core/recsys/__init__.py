"""Recommenders and ranking metrics: popularity, item-kNN, ALS/BPR, a content model on sentence
embeddings, and a hybrid tuned on a validation split; evaluated under Microsoft Recommenders'
protocol and served with reasons, filters and MMR. Plain Python: no Django here.

The names in __all__ are what apps may use; the submodules are internals (an import-linter
contract in pyproject.toml keeps apps and config off them). The blend comparison (comparison.py)
loads on first use."""
from .data import (
    KIND_WEIGHTS,
    CatalogueItem,
    InteractionMatrix,
    Interactions,
    MovieLensData,
    RecsysDataError,
    item_text,
    load_movielens,
    read_interactions_file,
    stratified_split,
)
from .metrics import metrics_from_hits, ranking_metrics
from .serving import HistoryEvent, Recommendation, RecommendationList, Recommender
from .training import ALL_MODELS, EvaluationResult, RecsysConfig, evaluate_models, tune_hybrid

__all__ = [
    "ALL_MODELS", "KIND_WEIGHTS", "BlendComparison", "CatalogueItem", "EvaluationResult", "HistoryEvent",
    "InteractionMatrix", "Interactions", "MovieLensData", "Recommendation", "RecommendationList",
    "Recommender", "RecsysConfig", "RecsysDataError", "compare_blends", "evaluate_models", "item_text",
    "load_movielens", "metrics_from_hits", "ranking_metrics", "read_interactions_file", "stratified_split",
    "tune_hybrid",
]


def __getattr__(name: str):
    if name in ("BlendComparison", "compare_blends"):
        from . import comparison

        return getattr(comparison, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
