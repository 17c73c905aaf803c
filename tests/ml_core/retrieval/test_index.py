import numpy as np
import pytest

from ml_core.retrieval import VectorIndex


def _vectors(*rows):
    return np.asarray(rows, dtype=np.float32)


def test_search_returns_nearest_by_cosine_best_first():
    index = VectorIndex(3)
    index.add(["x", "y", "xy"], _vectors([1, 0, 0], [0, 1, 0], [1, 1, 0]))
    hits = index.search(_vectors([2, 0.1, 0]), k=2)[0]
    assert [h.id for h in hits] == ["x", "xy"]
    assert hits[0].score == pytest.approx(0.9988, abs=1e-3)


def test_replace_remove_and_exclude():
    index = VectorIndex(2)
    index.add(["a", "b", "c"], _vectors([1, 0], [0, 1], [1, 1]))
    index.add(["a"], _vectors([0, 1]))  # entry a changed: replaced, not duplicated
    assert len(index) == 3
    assert {h.id for h in index.search(_vectors([0, 1]), k=2)[0]} == {"a", "b"}
    assert index.remove(["b", "missing"]) == 1
    assert [h.id for h in index.search(_vectors([0, 1]), k=5, exclude={"a"})[0]] == ["c"]
    assert "b" not in index and len(index) == 2


def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    index = VectorIndex(8)
    index.add([f"item:{i}" for i in range(50)], vectors)
    index.remove(["item:3"])
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert len(loaded) == 49 and "item:3" not in loaded
    query = vectors[10:11]
    assert loaded.search(query, k=5) == index.search(query, k=5)
    assert loaded.search(query, k=1)[0][0].id == "item:10"
    loaded.add(["new"], vectors[:1])  # ids keep growing after a load
    assert len(loaded) == 50


def test_bad_input_is_refused():
    index = VectorIndex(2)
    with pytest.raises(ValueError, match="2 ids for 1 vectors"):
        index.add(["a", "b"], _vectors([1, 0]))
    with pytest.raises(ValueError, match="dimension 3"):
        index.add(["a"], _vectors([1, 0, 0]))
    with pytest.raises(ValueError, match="duplicate ids"):
        index.add(["a", "a"], _vectors([1, 0], [0, 1]))
    assert index.search(_vectors([1, 0]), k=3) == [[]]
