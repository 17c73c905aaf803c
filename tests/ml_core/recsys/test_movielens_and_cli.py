"""MovieLens files (read and refused line by line), the evaluation CLI, and the real data set (slow)."""
import json

import pytest

from ml_core.cli import main
from ml_core.recsys.data import RecsysDataError, load_movielens
from tests.conftest import SHARED_DATA

from .movielens_files import RATINGS, write_movielens


def test_reads_films_with_their_text_users_and_ratings(tmp_path):
    data = load_movielens(write_movielens(tmp_path))
    assert len(data.items) == 5 and len(data.users) == 3 and len(data.interactions) == len(RATINGS)
    signal = next(i for i in data.items if i.item_id == "2")
    assert signal.categories == ["Action", "Sci-Fi"]
    assert signal.text == "The Last Signal (1997). Genres: Action, Sci-Fi."
    assert signal.attributes["year"] == 1997
    assert data.ratings.tolist() == [r for _, _, r in RATINGS]


@pytest.mark.parametrize("bad_line, problem", [
    ("2\t3\tfive\t880000000", "rating 'five' is not a whole number"),
    ("2\t3\t9\t880000000", "rating 9 must be between 1 and 5"),
    ("2\t99\t4\t880000000", "movie 99 is not in u.item"),
    ("2 3 4 880000000", "expected 4 tab-separated fields"),
])
def test_a_malformed_ratings_line_is_named(tmp_path, bad_line, problem):
    lines = ["1\t1\t4\t880000000", "1\t2\t5\t880000060", bad_line]
    with pytest.raises(RecsysDataError) as error:
        load_movielens(write_movielens(tmp_path, data_lines=lines))
    assert str(error.value).startswith("u.data line 3: ") and problem in str(error.value)


def test_a_missing_file_is_named(tmp_path):
    folder = write_movielens(tmp_path)
    (folder / "u.user").unlink()
    with pytest.raises(RecsysDataError, match="lacks u.user"):
        load_movielens(folder)


def _write_split(tmp_path, world):
    from ml_core.recsys.data import stratified_split

    train, test = stratified_split(world["interactions"], 0.75, seed=42)
    for name, part in (("train.tsv", train), ("test.tsv", test)):
        (tmp_path / name).write_text("".join(f"{u}\t{i}\t1\t{int(t)}\n" for u, i, t in
                                             zip(part.users, part.items, part.timestamps)))
    return tmp_path / "train.tsv", tmp_path / "test.tsv"


def test_cli_prints_one_json_object_per_model_for_a_given_split(tmp_path, world, capsys):
    train, test = _write_split(tmp_path, world)
    code = main(["recsys-eval", "--train", str(train), "--test", str(test), "--trials", "3",
                 "--models", "popularity,item_knn,als,hybrid"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["model"] for r in rows] == ["popularity", "item_knn", "als", "hybrid"]
    for row in rows:
        assert {"model", "map", "ndcg@10", "precision@10", "recall@10", "coverage", "train_s"} <= set(row)
    assert rows[-1]["ndcg@10"] > rows[0]["ndcg@10"]


def test_cli_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    assert main(["recsys-eval", "--train", str(tmp_path / "a.tsv")]) == 2
    assert "--train and --test go together" in capsys.readouterr().err
    assert main(["recsys-eval", "--data", str(tmp_path)]) == 2
    assert "lacks u.data" in capsys.readouterr().err


@pytest.mark.slow
def test_real_movielens_collaborative_models_clear_the_bpr_anchor():
    """The protocol on the real MovieLens 100K without the encoder (the bench adds content)."""
    from ml_core.recsys.data import stratified_split
    from ml_core.recsys.training import RecsysConfig, evaluate_models

    movielens = load_movielens(SHARED_DATA / "ml-100k")
    train, test = stratified_split(movielens.interactions, 0.75, seed=42)
    assert len(test) == 25354 and len(set(test.users.tolist())) == 943
    result = evaluate_models(train, test, [i.item_id for i in movielens.items], None, RecsysConfig(tuning_trials=30),
                             ("popularity", "item_knn", "als", "hybrid"))
    hybrid = result.rows[-1]
    assert hybrid["ndcg@10"] >= 0.44 and hybrid["recall@10"] >= 0.21 and hybrid["train_s"] < 120
