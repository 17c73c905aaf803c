"""`augment` and the augmentation / few-label / adversarial flags of `train-classifier`."""
import csv
import json

import pytest

from ml_core.cli import main as cli_main

from .conftest import TEXTS


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "train.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "intent"])
        writer.writerows((t, label) for label, group in TEXTS.items() for t in group)
    return path


def test_list_says_what_can_run_and_why_not(capsys, monkeypatch, tmp_path):
    from ml_core.augmentation import synonyms

    monkeypatch.delenv("ML_TRANSLATION_MODELS", raising=False)
    monkeypatch.setenv("WNSEARCHDIR", str(tmp_path))  # no WordNet there, nor at the default place
    monkeypatch.setattr(synonyms, "WORDNET_DEFAULT_DIRS", (str(tmp_path / "nowhere"),))
    assert cli_main(["augment", "--list"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["eda"] == "available" and status["paraphrase"].startswith("available")
    assert status["backtranslation"].startswith("back-translation is unavailable: no translation model")
    assert status["wordnet_synonyms"].startswith("unavailable: WordNet's database is not installed")


def test_augment_writes_originals_and_marked_rows(data_file, tmp_path, tiny_encoder_path, capsys):
    out = tmp_path / "augmented.csv"
    assert cli_main(["augment", "--data", str(data_file), "--label-col", "intent", "--out", str(out), "--ops",
                     "typo,word_swap", "--filter", "none", "--base", str(tiny_encoder_path), "--device", "cpu"]) == 0
    summary = json.loads(capsys.readouterr().out)
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary["rows"] == 12 + summary["augmented"] and summary["augmented"] > 0
    assert [r["augmented"] for r in rows[:12]] == [""] * 12
    assert {r["augmented"] for r in rows[12:]} <= {"typo", "word_swap"}
    assert all(r["label"] == rows[int(r["augmented_from"])]["label"] for r in rows[12:])


def test_train_classifier_flags_turn_on_the_plugins(data_file, tmp_path, tiny_encoder_path, capsys):
    out = tmp_path / "model"
    code = cli_main(["train-classifier", "--train", str(data_file), "--label-col", "intent", "--out", str(out),
                     "--base", str(tiny_encoder_path), "--device", "cpu", "--epochs", "1", "--valid-fraction", "0.25",
                     "--few-shot-k", "2", "--augment", "typo", "--augment-filter", "none",
                     "--adversarial", "pgd", "--adv-epsilon", "0.3", "--adv-steps", "2"])
    assert code == 0, capsys.readouterr().err
    config = json.loads((out / "classifier.json").read_text())["training_config"]
    assert config["plugins"] == {"augmentation": {"ops": ["typo"], "filter": "none", "few_shot_k": 2},
                                 "adversarial": {"method": "pgd", "epsilon": 0.3, "steps": 2}}
    summary = json.loads((out / "training_data.json").read_text())["plugins"]
    assert summary["augmentation"]["few_shot"]["k"] == 2 and summary["adversarial"]["steps"] == 2


@pytest.mark.parametrize("flags, message", [
    (["--augment", "telepathy"], "unknown augmentation 'telepathy'"),
    (["--adv-epsilon", "0.3"], "--adv-epsilon and --adv-steps need --adversarial"),
    (["--augment", "backtranslation"], "back-translation is unavailable"),
    (["--few-shot-k", "0"], "few_shot_k must be a whole number >= 1"),
])
def test_bad_flags_exit_with_one_line(data_file, tmp_path, flags, message, capsys):
    code = cli_main(["train-classifier", "--train", str(data_file), "--label-col", "intent",
                     "--out", str(tmp_path / "m"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
