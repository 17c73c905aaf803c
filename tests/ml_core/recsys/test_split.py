"""The per-user stratified split: no leakage, every user on both sides, Recommenders' proportions."""
import numpy as np

from ml_core.recsys.data import Interactions, stratified_split


def _synthetic(seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(40):
        count = int(rng.integers(2, 30))
        for item in rng.choice(200, size=count, replace=False):
            rows.append((f"u{user}", f"i{item}", 1.0, float(rng.integers(0, 10**6))))
    rows += [("u0", rows[0][1], 0.3, 5.0)]  # a repeated (user, item) event
    rows += [("lonely", "i1", 1.0, 1.0)]  # a user with a single interaction
    return Interactions.from_rows(rows)


def _pairs(part: Interactions) -> set:
    return set(zip(part.users.tolist(), part.items.tolist()))


def test_no_pair_on_both_sides_and_nothing_lost():
    data = _synthetic()
    train, test = stratified_split(data, 0.75, seed=42)
    assert not _pairs(train) & _pairs(test)
    assert _pairs(train) | _pairs(test) == _pairs(data)
    assert len(train) + len(test) == len(data.aggregate())


def test_every_user_with_two_items_is_in_both_parts_in_proportion():
    data = _synthetic().aggregate()
    train, test = stratified_split(data, 0.75, seed=42)
    for user in set(data.users.tolist()) - {"lonely"}:
        total = int((data.users == user).sum())
        in_train = int((train.users == user).sum())
        # Recommenders: rows whose rank / count <= 0.75 train, i.e. floor(0.75 * count) of them.
        assert in_train == int(np.floor(0.75 * total + 1e-9))
        assert (test.users == user).sum() == total - in_train >= 1
    assert "lonely" in set(train.users.tolist()) and "lonely" not in set(test.users.tolist())


def test_the_seed_decides_and_repeats():
    data = _synthetic()
    a = stratified_split(data, 0.75, seed=1)[1]
    b = stratified_split(data, 0.75, seed=1)[1]
    c = stratified_split(data, 0.75, seed=2)[1]
    assert _pairs(a) == _pairs(b) != _pairs(c)


def test_repeated_events_are_merged_before_splitting():
    data = Interactions.from_rows([("u", "a", 1.0, 10.0), ("u", "a", 0.5, 20.0), ("u", "b", 1.0, 5.0)])
    merged = data.aggregate()
    assert len(merged) == 2
    row = list(merged.items).index("a")
    assert merged.weights[row] == 1.5 and merged.timestamps[row] == 20.0
    train, test = stratified_split(data, 0.75, seed=0)
    assert len(train) == 1 and len(test) == 1
