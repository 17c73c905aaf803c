"""`python -m ml_core train-classifier / evaluate / predict / tune-classifier` on tiny models."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml_core.cli import main
from tests.ml_core.test_training import toy_data

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ml_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def _write_csv(path: Path, rows, header=("text", "label"), encoding="utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    data = toy_data(90)
    train = _write_csv(folder / "train.csv", [(t, y, "a" if i % 2 else "b")
                                              for i, (t, y) in enumerate(zip(data.texts[:60], data.labels[:60]))],
                       header=("body", "tag", "group"))
    test = _write_csv(folder / "test.csv", [(t, y, "a" if i % 2 else "b")
                                            for i, (t, y) in enumerate(zip(data.texts[60:], data.labels[60:]))],
                      header=("body", "tag", "group"))
    return folder, train, test


@pytest.fixture(scope="module")
def toy_model(toy_files, tiny_encoder_path):
    folder, train, _ = toy_files
    out = folder / "model"
    result = _cli("train-classifier", "--train", str(train), "--text-col", "body", "--label-col", "tag",
                  "--out", str(out), "--method", "full", "--base", str(tiny_encoder_path), "--epochs", "2",
                  "--seed", "7", "--device", "cpu", "--batch-size", "8")
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout.strip().splitlines()[-1])


def test_train_evaluate_predict_round_trip(toy_files, toy_model):
    folder, _, test = toy_files
    out, trained = toy_model
    assert trained["out"] == str(out) and trained["method"] == "full" and trained["labels"] == 3
    assert (out / "MANIFEST.json").is_file() and not Path(f"{out}.checkpoints").exists()

    result = _cli("evaluate", "--model", str(out), "--data", str(test), "--text-col", "body", "--label-col", "tag",
                  "--device", "cpu", "--report", str(folder / "report.json"))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["n"] == 30 and {"accuracy", "macro_f1", "ece", "nll"} <= set(figures)
    report = json.loads((folder / "report.json").read_text())
    assert sum(map(sum, report["confusion_matrix"]["matrix"])) == 30 and len(report["per_class"]) == 3

    result = _cli("predict", "--model", str(out), "--text", "great win happy", "--text", "awful loss",
                  "--top-k", "2", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["great win happy", "awful loss"]
    assert all(len(line["top_k"]) == 2 and line["top_k"][0][0] == line["label"] for line in lines)


def test_evaluate_a_subset_and_predict_a_file(toy_files, toy_model, capsys):
    folder, _, test = toy_files
    out, _ = toy_model
    assert main(["evaluate", "--model", str(out), "--data", str(test), "--text-col", "body", "--label-col", "tag",
                 "--where", "group=a"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 15
    (folder / "texts.txt").write_text("great\nawful\n")
    assert main(["predict", "--model", str(out), "--data", str(folder / "texts.txt")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def _fails(capsys, *args: str) -> str:
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    return err


def _train_args(path: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["train-classifier", "--train", str(path), "--out", str(tmp_path / "out"), "--method", "head",
            "--device", "cpu", *extra]


def test_bad_input_empty_text_row(tmp_path, capsys):
    path = _write_csv(tmp_path / "d.csv", [("fine", "a"), ("fine too", "a"), ("", "b"), ("x", "b")])
    assert _fails(capsys, *_train_args(path, tmp_path)) == f"error: {path}, row 4: field 'text' is empty"
    assert not (tmp_path / "out").exists()


def test_bad_input_unknown_label(tmp_path, capsys, toy_model):
    out, _ = toy_model
    path = _write_csv(tmp_path / "d.csv", [("great", "pos"), ("meh", "so-so")])
    err = _fails(capsys, "evaluate", "--model", str(out), "--data", str(path))
    assert err == f"error: {path}, row 3: field 'label' has unknown label 'so-so' (known: neg, neu, pos)"


def test_bad_input_missing_column(tmp_path, capsys):
    path = _write_csv(tmp_path / "d.csv", [("fine", "a")], header=("text", "intent"))
    err = _fails(capsys, *_train_args(path, tmp_path))
    assert err == f"error: {path} has no label column 'label' (columns: text, intent)"


def test_bad_input_wrong_encoding(tmp_path, capsys):
    path = _write_csv(tmp_path / "d.csv", [("ok", "a"), ("ok2", "a"), ("Sepp\u00e4l\u00e4", "b"), ("b", "b")],
                      encoding="latin-1")
    err = _fails(capsys, *_train_args(path, tmp_path))
    assert err.startswith(f"error: {path}: line 4 is not valid utf-8 (byte 0xe4")
    assert main(_train_args(path, tmp_path, "--encoding", "latin-1", "--base", "./no/such/model")) == 2
    assert "does not exist" in capsys.readouterr().err  # got past the data


def test_bad_input_too_few_examples_per_class(tmp_path, capsys):
    path = _write_csv(tmp_path / "d.csv", [("a", "x"), ("b", "x"), ("c", "y")])
    err = _fails(capsys, *_train_args(path, tmp_path))
    assert err == f"error: {path}: class 'y' (row 4) has 1 example, need at least 2 per class"


def test_bad_options(tmp_path, capsys, toy_files):
    _, train, _ = toy_files
    (tmp_path / "out").mkdir()
    assert "already exists" in _fails(capsys, *_train_args(train, tmp_path))
    assert "epochs must be at least 1" in _fails(capsys, *_train_args(train, tmp_path / "new", "--epochs", "0"))
    assert "has no classifier.json" in _fails(capsys, "predict", "--model", str(tmp_path), "--text", "x")
    (tmp_path / "cfg.json").write_text('{"lerning_rate": 1}')
    assert "unknown training option(s): lerning_rate" in _fails(
        capsys, *_train_args(train, tmp_path / "new", "--config", str(tmp_path / "cfg.json")))


def test_tune_prints_every_trial(toy_files, tiny_encoder_path, capsys):
    _, train, _ = toy_files
    assert main(["tune-classifier", "--train", str(train), "--text-col", "body", "--label-col", "tag",
                 "--base", str(tiny_encoder_path), "--trials", "3", "--methods", "head,full", "--max-epochs", "1",
                 "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["trials"]) == 3 and result["objective"] == "macro_f1"
    assert all(t["state"] == "complete" and "macro_f1" in t["metrics"] for t in result["trials"])
    assert result["best"]["number"] in {0, 1, 2}


def test_a_recipe_sets_its_options_and_flags_and_config_win(toy_files, tiny_encoder_path, tmp_path, capsys):
    from ml_core.training import RECIPES
    from ml_core.training.model import read_artifact_config

    _, train, _ = toy_files
    config = tmp_path / "more.json"
    config.write_text(json.dumps({"warmup_ratio": 0.2}))
    out = tmp_path / "plain"
    assert main(["train-classifier", "--train", str(train), "--text-col", "body", "--label-col", "tag",
                 "--out", str(out), "--base", str(tiny_encoder_path), "--recipe", "plain", "--epochs", "1",
                 "--config", str(config), "--device", "cpu", "--train-top-layers", "1"]) == 0
    used = read_artifact_config(out).training_config
    assert used["train_top_layers"] == 1
    plain = RECIPES["plain"]
    assert {k: used[k] for k in ("init_head", "head_learning_rate", "max_length", "early_stopping_patience")} == {
        k: plain[k] for k in ("init_head", "head_learning_rate", "max_length", "early_stopping_patience")}
    assert used["epochs"] == 1 and used["warmup_ratio"] == 0.2  # the flag and the config file win
    assert read_artifact_config(out).normalize is False and read_artifact_config(out).pooling == "mean"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["train-classifier", "--train", str(train), "--out", str(tmp_path / "x"), "--recipe", "fancy"])
    assert "invalid choice: 'fancy' (choose from 'plain', 'plain-top2')" in capsys.readouterr().err
