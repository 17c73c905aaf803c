"""The recommenders on the synthetic world: each finds the taste it should, seen items never come back."""
import numpy as np
import pytest
import scipy.sparse as sp

from ml_core.recsys.data import InteractionMatrix, stratified_split
from ml_core.recsys.models import ALSModel, ContentModel, HistoryBatch, ItemKNNModel, PopularityModel
from ml_core.recsys.training import ALL_MODELS, evaluate_models

from .conftest import cluster_of


def _matrix(world):
    return InteractionMatrix.build(world["interactions"], item_ids=[i.item_id for i in world["items"]])


def test_item_knn_and_als_recommend_from_the_users_cluster_and_skip_seen(world, config):
    matrix = _matrix(world)
    batch = HistoryBatch(matrix.weights, matrix.timestamps)
    seen = matrix.weights.toarray() > 0
    for model in (ItemKNNModel(20, 5.0).fit(matrix.weights), ALSModel(factors=8, seed=1).fit(matrix.weights)):
        scores = np.where(seen, -np.inf, model.score(batch))
        best = scores.argmax(axis=1)
        home = [["crime", "space", "cooking"][int(u[1:]) % 3] for u in matrix.user_ids]
        agreement = np.mean([cluster_of(matrix.item_ids[b]) == h for b, h in zip(best, home)])
        assert agreement > 0.9, model.name
        assert not seen[np.arange(len(best)), best].any()


def test_als_fold_in_is_the_least_squares_step_of_implicit(world):
    from implicit.cpu.als import AlternatingLeastSquares

    matrix = _matrix(world)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        reference = AlternatingLeastSquares(factors=8, regularization=0.05, alpha=5.0, iterations=5,
                                            random_state=0)
        reference.fit(matrix.weights, show_progress=False)
    ours = ALSModel(factors=8, regularization=0.05, alpha=5.0)
    ours.item_factors = np.asarray(reference.item_factors)
    rows = matrix.weights[:5]
    expected = reference.recalculate_user(np.arange(5), rows)
    assert np.allclose(ours.user_factors(rows), expected, atol=1e-4)


def test_content_profile_follows_the_latest_interests(world):
    model = ContentModel(half_life_days=1.0).fit(world["embeddings"])
    day = 86400.0
    # Crime items long ago, space items today.
    cols = [0, 1, 2, 10, 11]
    stamps = [0.0, 0.0, 0.0, 30 * day, 30 * day]
    weights = sp.csr_matrix((np.ones(5), ([0] * 5, cols)), shape=(1, 30))
    times = sp.csr_matrix((stamps, ([0] * 5, cols)), shape=(1, 30))
    scores = model.score(HistoryBatch(weights, times))[0]
    scores[cols] = -np.inf
    assert cluster_of(f"i{scores.argmax()}") == "space"


def test_popularity_counts_users_not_events():
    weights = sp.csr_matrix(np.array([[3.0, 0, 1], [1.0, 0, 0]]))
    model = PopularityModel().fit(weights)
    assert model.user_counts.tolist() == [2, 0, 1]


def test_evaluate_models_reports_every_model_and_the_hybrid_beats_popularity(world, config):
    train, test = stratified_split(world["interactions"], 0.75, seed=42)
    result = evaluate_models(train, test, [i.item_id for i in world["items"]], world["embeddings"], config)
    rows = {row["model"]: row for row in result.rows}
    assert list(rows) == list(ALL_MODELS)
    for row in rows.values():
        for key in ("map", "ndcg@10", "precision@10", "recall@10", "coverage", "train_s"):
            assert 0.0 <= row[key] <= max(1.0, row["train_s"]), (row["model"], key)
        assert row["users"] == 90
    assert sum(result.weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert rows["hybrid"]["ndcg@10"] > rows["popularity"]["ndcg@10"] + 0.1
