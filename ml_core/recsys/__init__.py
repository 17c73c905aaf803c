"""Recommenders and ranking metrics: popularity, item-kNN, ALS/BPR, a content model on sentence
embeddings, and a hybrid tuned on a validation split; evaluated under Microsoft Recommenders'
protocol and served with reasons, filters and MMR. Plain Python: no Django here."""
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
    "ALL_MODELS", "KIND_WEIGHTS", "CatalogueItem", "EvaluationResult", "HistoryEvent", "InteractionMatrix",
    "Interactions", "MovieLensData", "Recommendation", "RecommendationList", "Recommender", "RecsysConfig",
    "RecsysDataError", "evaluate_models", "item_text", "load_movielens", "metrics_from_hits",
    "ranking_metrics", "read_interactions_file", "stratified_split", "tune_hybrid",
]
