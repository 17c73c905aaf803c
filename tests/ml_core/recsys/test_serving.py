"""The served recommender: strategies by what is known of the user, reasons, filters, MMR, new items."""
import numpy as np
import pytest

from ml_core.recsys.data import CatalogueItem
from ml_core.recsys.serving import HistoryEvent, Recommender

from .conftest import cluster_of


@pytest.fixture(scope="module")
def recommender(world, config):
    weights = {"popularity": 0.1, "item_knn": 0.3, "als": 0.3, "content": 0.3}
    return Recommender.fit(world["interactions"], world["items"], world["embeddings"], weights, config)


def _history(*item_ids, kind="like"):
    return [HistoryEvent(i, 1.0, 1000.0 + n, kind) for n, i in enumerate(item_ids)]


def test_nobody_known_gets_popular_items_with_that_reason(recommender):
    result = recommender.recommend([], k=5)
    assert result.strategy == "popularity" and len(result.items) == 5
    assert all(r.reason.startswith("Popular in ") for r in result.items)
    counts = recommender.popularity.user_counts
    top = [recommender.index_of[r.item_id] for r in result.items]
    assert counts[top[0]] == counts.max()


def test_a_new_user_with_a_few_items_gets_content_results_named_after_them(recommender):
    result = recommender.recommend(_history("i10", "i11"), k=5)
    assert result.strategy == "content"
    assert {cluster_of(r.item_id) for r in result.items} == {"space"}
    assert all(r.item_id not in {"i10", "i11"} for r in result.items)
    assert all(r.reason in ("Because you liked “Space item 10”", "Because you liked “Space item 11”")
               for r in result.items)


def test_an_active_user_gets_the_hybrid_without_seen_items(recommender):
    seen = [f"i{n}" for n in range(20, 27)]
    result = recommender.recommend(_history(*seen, kind="purchase"), k=3)
    assert result.strategy == "hybrid"
    assert [cluster_of(r.item_id) for r in result.items] == ["cooking"] * 3
    assert not {r.item_id for r in result.items} & set(seen)
    assert all(r.reason.startswith("Because you bought “") and r.because_item_id in seen for r in result.items)


def test_filters_exclude_ids_and_allowed_items(recommender):
    history = _history(*[f"i{n}" for n in range(20, 27)])
    allowed = recommender.mask([f"i{n}" for n in range(10)])  # e.g. a category filter: crime only
    result = recommender.recommend(history, k=4, exclude={"i0", "i1"}, allowed=allowed)
    ids = [r.item_id for r in result.items]
    assert len(ids) == 4 and all(cluster_of(i) == "crime" for i in ids) and not {"i0", "i1"} & set(ids)


def test_mmr_trades_relevance_for_variety(recommender):
    history = _history(*[f"i{n}" for n in range(20, 25)])

    def spread(items):
        vectors = recommender.content.vectors[[recommender.index_of[r.item_id] for r in items]]
        sims = vectors @ vectors.T
        return (sims.sum() - np.trace(sims)) / (len(items) * (len(items) - 1))

    plain = recommender.recommend(history, k=8).items
    varied = recommender.recommend(history, k=8, diversity=0.9).items
    assert spread(varied) < spread(plain)
    assert len({cluster_of(r.item_id) for r in varied}) > len({cluster_of(r.item_id) for r in plain})


def test_a_new_item_is_recommendable_from_its_text_before_anyone_touched_it(recommender, world):
    space_centre = world["embeddings"][10:20].mean(axis=0)
    new = CatalogueItem("new-space", "A brand new space item", categories=["space"])
    assert recommender.add_items([new], space_centre[None, :]) == 1
    assert recommender.add_items([new], space_centre[None, :]) == 0  # idempotent
    cold = recommender.recommend(_history("i12", "i13", "i14"), k=3)
    assert "new-space" in [r.item_id for r in cold.items]
    assert "new-space" in [r.item_id for r in recommender.similar_items("i15", k=10)]
    # With no behaviour yet, its own similar items come from its text alone.
    assert {cluster_of(r.item_id) for r in recommender.similar_items("new-space", k=5)} == {"space"}
    assert recommender.popularity.user_counts[recommender.index_of["new-space"]] == 0


def test_similar_items_explain_themselves(recommender):
    similar = recommender.similar_items("i0", k=5)
    assert len(similar) == 5 and "i0" not in [r.item_id for r in similar]
    assert all(cluster_of(r.item_id) == "crime" for r in similar)
    assert all("“Crime item 0”" in r.reason for r in similar)


def test_save_and_load_serve_the_same_lists(recommender, tmp_path):
    recommender.save(tmp_path)
    loaded = Recommender.load(tmp_path)
    for history in ([], _history("i1", "i2"), _history(*[f"i{n}" for n in range(10, 17)])):
        assert [(r.item_id, r.reason) for r in loaded.recommend(history, k=5).items] == \
               [(r.item_id, r.reason) for r in recommender.recommend(history, k=5).items]
