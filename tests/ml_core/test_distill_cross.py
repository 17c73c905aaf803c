"""Distillation across architectures, on tiny random encoders of two different sizes.

The teacher is a `full` classifier on a 2-layer, 32-wide encoder; the student a fresh classifier
on a 1-layer, 16-wide one. The toy texts give their label away by their words, so a trained
teacher is accurate and a student that learns from it can be checked against it.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ml_core.cli import main as cli_main
from ml_core.compression.distill import (
    CrossDistillConfig,
    StudentTraining,
    distill_across,
    ensemble_logits,
    train_student,
)
from ml_core.data import LabelledTexts, stratified_split
from ml_core.errors import UserError
from ml_core.serving import ClassifierPredictor
from ml_core.testing import build_tiny_encoder
from ml_core.training.model import TextClassifier, load_base, pad_batch, read_artifact_config, tokenize
from tests.ml_core.test_training import WORDS, toy_data


def fast_config(student: Path, **training) -> CrossDistillConfig:
    options = {"epochs": 4, "learning_rate": 1e-3, "head_learning_rate": 1e-2, "batch_size": 16, "seed": 5,
               **training}
    return CrossDistillConfig(student_base=str(student), max_length=32, device="cpu", teacher_batch_size=32,
                              training=StudentTraining(**options))


def unlabelled_toy_texts(n: int = 90, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{' '.join(rng.choice(WORDS[list(WORDS)[i % 3]], size=3))} item {1000 + i}" for i in range(n)]


@pytest.fixture(scope="module")
def student_encoder(tmp_path_factory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-student"), hidden_size=16, layers=1, heads=2, seed=11)


@pytest.fixture(scope="module")
def splits():
    return stratified_split(toy_data(150, seed=2), test_fraction=0.3, seed=1)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_encoder_path, splits) -> Path:
    from ml_core.training import ClassifierConfig, train_classifier

    train, _ = splits
    folder = tmp_path_factory.mktemp("teacher") / "model"
    config = ClassifierConfig(base_model=str(tiny_encoder_path), method="full", epochs=2, batch_size=16,
                              learning_rate=1e-3, device="cpu", max_length=32, seed=3)
    train_classifier(config, train, folder)
    return folder


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, teacher, student_encoder, splits):
    train, test = splits
    out = tmp_path_factory.mktemp("student") / "model"
    unlabelled = unlabelled_toy_texts() + train.texts[:5]  # five repeat labelled texts: not used twice
    seen: list[float] = []
    result = distill_across(teacher, train, out, unlabelled=unlabelled, unlabelled_sources=["toy-unlabelled"],
                            eval_data=test, config=fast_config(student_encoder),
                            progress=lambda p, m="": seen.append(p))
    return result, out, seen


def test_the_student_learns_the_teachers_labels_and_is_a_normal_classifier(distilled, teacher, splits):
    result, out, seen = distilled
    train, test = splits
    teacher_predictions = [p.label for p in ClassifierPredictor.load(teacher).predict(test.texts)]
    student = ClassifierPredictor.load(out)  # the normal artifact: serving loads it as any classifier
    student_predictions = [p.label for p in student.predict(test.texts)]
    agreement = np.mean([a == b for a, b in zip(teacher_predictions, student_predictions)])
    assert agreement >= 0.9, agreement
    accuracy = np.mean([p == gold for p, gold in zip(student_predictions, test.labels)])
    assert accuracy >= 0.9 and result.metrics["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert result.metrics["teacher_accuracy"]["eval"] >= 0.9
    assert seen == sorted(seen) and seen[-1] == 100.0

    config = read_artifact_config(out)
    assert config.method == "full" and config.labels == read_artifact_config(teacher).labels
    assert config.training_config["base_model"] == config.base_model
    distillation = config.extra["distillation"]
    assert distillation["teacher"]["path"] == str(teacher.resolve())
    assert distillation["teacher"]["base_model"] == read_artifact_config(teacher).base_model
    held_out = distillation["held_out"]
    transfer = distillation["transfer_set"]
    assert transfer == {"labelled": len(train) - held_out, "unlabelled": 90, "total": len(train) - held_out + 90,
                        "unlabelled_given": 95, "unlabelled_dropped_duplicates": 5,
                        "unlabelled_sources": ["toy-unlabelled"]}
    assert set(distillation["teacher_accuracy"]) == {"labelled_transfer", "held_out", "eval"}
    for name in ("metrics.json", "curves.json", "evaluation.json", "evaluation_test.json", "training_data.json"):
        assert json.loads((out / name).read_text())
    # The student is the small one: a 16-wide, 1-layer encoder (the teacher's is 32 wide, 2 layers).
    assert student.backend.model.encoder.config.hidden_size == 16


def test_unlabelled_texts_teach_through_the_soft_term_alone(student_encoder):
    """A student with no gold labels at all learns the labels its soft targets carry."""
    data = toy_data(90, seed=4)
    labels = sorted(WORDS)
    base = load_base(str(student_encoder))
    torch.manual_seed(0)
    model = TextClassifier(base.encoder, len(labels), pooling=base.pooling, normalize=base.normalize)
    sequences = tokenize(base.tokenizer, data.texts, 32)
    truth = np.array([labels.index(label) for label in data.labels])
    soft = 6.0 * np.eye(len(labels), dtype=np.float32)[truth]  # a confident teacher's logits

    def accuracy() -> float:
        model.eval()
        with torch.no_grad():
            logits = model(*pad_batch(sequences, base.tokenizer.pad_token_id))
        return float((logits.argmax(1).numpy() == truth).mean())

    before = accuracy()
    no_gold = np.full(len(data), -1)
    config = StudentTraining(epochs=6, learning_rate=1e-3, head_learning_rate=1e-2, batch_size=16, soft_weight=0.5)
    curves = train_student(model, sequences, no_gold, pad_id=base.tokenizer.pad_token_id, config=config,
                           soft_targets=soft)
    assert accuracy() >= 0.9 > before + 0.2
    assert curves[-1]["train_loss"] < curves[0]["train_loss"]
    with pytest.raises(UserError, match="without a gold label need the teacher's soft labels"):
        train_student(model, sequences, no_gold, pad_id=0, config=config)


def test_bad_teachers_and_labels_are_named(tmp_path, teacher, student_encoder, splits):
    train, _ = splits
    config = fast_config(student_encoder, epochs=1)
    with pytest.raises(UserError, match="teacher folder .*nowhere does not exist"):
        distill_across(tmp_path / "nowhere", train, config=config)
    with pytest.raises(UserError, match="has no classifier.json"):
        distill_across(tmp_path, train, config=config)

    broken = tmp_path / "no-labels"
    broken.mkdir()
    data = json.loads((teacher / "classifier.json").read_text())
    data.pop("labels")
    (broken / "classifier.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="teacher .*no-labels: its classifier.json has no 'labels'"):
        distill_across(broken, train, config=config)
    (broken / "classifier.json").write_text(json.dumps({**data, "labels": ["pos"]}))
    with pytest.raises(UserError, match="lists 1 label"):
        distill_across(broken, train, config=config)

    renamed = LabelledTexts(train.texts, [{"pos": "bullish"}.get(label, label) for label in train.labels], source="t")
    with pytest.raises(UserError, match="training data \\(t\\) has label\\(s\\) the teacher does not know: 'bullish'"):
        distill_across(teacher, renamed, config=config)
    with pytest.raises(UserError, match="unlabelled texts would be ignored"):
        distill_across(teacher, train, unlabelled=["a"], config=fast_config(student_encoder, soft_weight=0.0))
    with pytest.raises(UserError, match="unknown distillation option"):
        CrossDistillConfig.from_dict({"studnet_base": "x"})


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def test_cli_distills_then_int8_through_the_guardrail(tmp_path, teacher, student_encoder, splits, capsys):
    train, test = splits
    train_file = write_csv(tmp_path / "train.csv", list(zip(train.texts, train.labels)))
    test_file = write_csv(tmp_path / "test.csv", list(zip(test.texts, test.labels)))
    texts = unlabelled_toy_texts(60)
    txt = tmp_path / "news.txt"
    txt.write_text("\n".join(texts[:30]) + "\n")
    other = write_csv(tmp_path / "tweets.csv", [(t, "0") for t in texts[30:]])  # labels there: unused
    config = tmp_path / "distill.json"
    config.write_text(json.dumps({"teacher_batch_size": 16, "training": {"learning_rate": 1e-3,
                                                                         "head_learning_rate": 1e-2}}))
    args = ["distill", "--teacher", str(teacher), "--train", str(train_file), "--unlabelled", str(txt), str(other),
            "--data", str(test_file), "--out", str(tmp_path / "student"), "--base", str(student_encoder),
            "--epochs", "3", "--batch-size", "16", "--max-length", "32", "--device", "cpu", "--seed", "5",
            "--config", str(config), "--int8-out", str(tmp_path / "student-int8"), "--max-drop", "100"]
    assert cli_main(args) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["transfer_set"]["unlabelled"] == 60
    assert output["transfer_set"]["unlabelled_sources"] == [str(txt), str(other)]
    assert output["metrics"]["eval_accuracy"] >= 0.8
    assert output["int8"]["promoted"] == "onnx-int8"
    int8 = ClassifierPredictor.load(tmp_path / "student-int8")
    assert int8.predict(["great good win item 5"])[0].label == "pos"
    saved = read_artifact_config(tmp_path / "student").extra["distillation"]["config"]
    assert saved["teacher_batch_size"] == 16 and saved["training"]["epochs"] == 3

    without_data = [a for i, a in enumerate(args) if "--data" not in args[max(i - 1, 0) : i + 1]]
    assert cli_main([*without_data, "--out", str(tmp_path / "again")]) == 2
    assert "error: --int8-out needs --data" in capsys.readouterr().err
    assert cli_main(["distill", "--teacher", str(tmp_path / "missing"), "--train", str(train_file),
                     "--out", str(tmp_path / "s2"), "--base", str(student_encoder)]) == 2
    assert "error: teacher folder" in capsys.readouterr().err and not (tmp_path / "s2").exists()


def test_a_shallower_student_keeps_the_layers_asked_for(tmp_path, teacher, tiny_encoder_path, splits, capsys):
    train, test = splits
    train_file = write_csv(tmp_path / "train.csv", list(zip(train.texts, train.labels)))
    test_file = write_csv(tmp_path / "test.csv", list(zip(test.texts, test.labels)))
    assert json.loads((Path(tiny_encoder_path) / "config.json").read_text())["num_hidden_layers"] == 2
    assert cli_main(["distill", "--teacher", str(teacher), "--train", str(train_file), "--data", str(test_file),
                     "--out", str(tmp_path / "student"), "--base", str(tiny_encoder_path), "--student-layers", "1",
                     "--epochs", "3", "--batch-size", "16", "--max-length", "32", "--device", "cpu",
                     "--learning-rate", "1e-3", "--seed", "5"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["metrics"]["eval_accuracy"] >= 0.8
    student = ClassifierPredictor.load(tmp_path / "student")
    assert student.backend.model.encoder.config.num_hidden_layers == 1
    assert len(student.backend.model.encoder.encoder.layer) == 1
    assert read_artifact_config(tmp_path / "student").extra["distillation"]["config"]["student_layers"] == [1]

    with pytest.raises(UserError, match=r"layers to keep must be between 0 and 1, not \[4\]"):
        distill_across(teacher, train, config=CrossDistillConfig.from_dict(
            {**fast_config(tiny_encoder_path, epochs=1).to_dict(), "student_layers": "4"}))
    with pytest.raises(UserError, match="student_layers must be layer numbers such as 1,3,5, not"):
        CrossDistillConfig.from_dict({"student_layers": "one,three"}).validate()
    with pytest.raises(UserError, match="distinct layer numbers"):
        CrossDistillConfig.from_dict({"student_layers": [1, 1]}).validate()


def test_ensemble_logits_average_calibrated_probabilities():
    one = np.array([[2.0, 0.0]], dtype=np.float32)
    assert ensemble_logits([one], [5.0]) is one  # a single teacher's logits are used as they are
    # An over-confident member (logits 10 : 0, fitted temperature 10) does not outvote a
    # calibrated one (0 : 2): 0.7311/0.2689 and 0.1192/0.8808 average to 0.4251/0.5749.
    loud, calm = np.array([[10.0, 0.0]]), np.array([[0.0, 2.0]])
    combined = np.exp(ensemble_logits([loud, calm], [10.0, 1.0]))
    np.testing.assert_allclose(combined, [[0.4251, 0.5749]], atol=1e-4)
    assert np.exp(ensemble_logits([loud, calm], [1.0, 1.0]))[0].argmax() == 0  # uncalibrated, loud would win


def permuted_copy(teacher: Path, out: Path) -> Path:
    """The same classifier with its labels listed in reverse order (head rows reversed to match)."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(teacher, out)
    head = load_file(str(out / "head.safetensors"))
    save_file({name: tensor.flip(0).contiguous() for name, tensor in head.items()}, str(out / "head.safetensors"))
    data = json.loads((out / "classifier.json").read_text())
    data["labels"] = list(reversed(data["labels"]))
    (out / "classifier.json").write_text(json.dumps(data))
    return out


def test_an_ensemble_of_teachers_teaches_with_its_members_columns_matched(tmp_path, teacher, tiny_encoder_path,
                                                                          student_encoder, splits, capsys):
    """Members may list their labels in another order: each member's columns are matched by name.
    The teacher and a copy with its labels reversed agree on every text, so their ensemble scores
    exactly as the teacher alone; a second, different teacher (frozen encoder + logistic head) makes
    an ensemble whose accuracy is that of the two predictors' averaged probabilities."""
    from ml_core.training import ClassifierConfig, train_classifier

    train, test = splits
    reversed_teacher = permuted_copy(teacher, tmp_path / "reversed")
    config = fast_config(student_encoder, epochs=1)
    alone = distill_across(teacher, train, eval_data=test, config=config)
    both = distill_across([teacher, reversed_teacher], train, eval_data=test, config=config)
    for part in ("labelled_transfer", "held_out", "eval"):
        assert both.metrics["teacher_accuracy"][part] == alone.metrics["teacher_accuracy"][part]
    members = both.distillation["teacher"]["members"]
    assert [m["accuracy"]["eval"] for m in members] == [alone.metrics["teacher_accuracy"]["eval"]] * 2
    assert [m["path"] for m in members] == [str(teacher.resolve()), str(reversed_teacher.resolve())]

    head_teacher = tmp_path / "head-teacher"
    train_classifier(ClassifierConfig(base_model=str(tiny_encoder_path), method="head", device="cpu", max_length=32,
                                      seed=3), train, head_teacher)
    train_file = write_csv(tmp_path / "train.csv", list(zip(train.texts, train.labels)))
    test_file = write_csv(tmp_path / "test.csv", list(zip(test.texts, test.labels)))
    assert cli_main(["distill", "--teacher", str(teacher), str(head_teacher), "--train", str(train_file),
                     "--data", str(test_file), "--out", str(tmp_path / "student"), "--base", str(student_encoder),
                     "--epochs", "2", "--batch-size", "16", "--max-length", "32", "--device", "cpu",
                     "--learning-rate", "1e-3", "--seed", "5"]) == 0
    output = json.loads(capsys.readouterr().out)
    members = [ClassifierPredictor.load(folder) for folder in (teacher, head_teacher)]
    averaged = np.mean([m.predict_proba(test.texts)[:, [m.labels.index(l) for l in members[0].labels]]
                        for m in members], axis=0)
    expected = np.mean(np.array(members[0].labels)[averaged.argmax(axis=1)] == np.array(test.labels))
    assert output["metrics"]["teacher_accuracy"]["eval"] == pytest.approx(expected, abs=1.01 / len(test))
    recorded = read_artifact_config(tmp_path / "student").extra["distillation"]["teacher"]
    assert recorded["base_model"] == " + ".join([read_artifact_config(teacher).base_model] * 2)
    assert recorded["method"] == "full + head" and len(recorded["members"]) == 2
    assert recorded["ensemble"] == "mean of the members' calibrated probabilities"


def test_an_ensemble_needs_distinct_members_that_know_the_same_labels(tmp_path, teacher, student_encoder, splits):
    train, _ = splits
    config = fast_config(student_encoder, epochs=1)
    with pytest.raises(UserError, match="a teacher folder is named twice"):
        distill_across([teacher, teacher], train, config=config)
    with pytest.raises(UserError, match="name at least one teacher folder"):
        distill_across([], train, config=config)
    other = permuted_copy(teacher, tmp_path / "other")
    data = json.loads((other / "classifier.json").read_text())
    (other / "classifier.json").write_text(json.dumps({**data, "labels": ["up", "down", "flat"]}))
    with pytest.raises(UserError, match="the members of an ensemble must know the same labels"):
        distill_across([teacher, other], train, config=config)
