"""A distilled student's model card names its teacher, its transfer set and each stage's accuracy.

Real models, tiny: a `full` teacher on a 2-layer random encoder, a student distilled into a
1-layer one with distill_across (plus unlabelled texts), then the student through the int8
guardrail, as `python -m ml_core distill --int8-out` does.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ml_core.compression import CompressionConfig, compress_classifier, distill_across
from ml_core.data import stratified_split
from ml_core.testing import build_tiny_encoder
from ml_core.trust import build_model_card, read_artifact_reports, render_markdown
from tests.ml_core.compression.conftest import FAST_TIMING
from tests.ml_core.test_distill_cross import fast_config, unlabelled_toy_texts
from tests.ml_core.test_training import toy_data


def build_stages(root: Path, teacher_encoder: Path) -> dict[str, Path]:
    """teacher/ (full), student/ (distilled, with 90 unlabelled texts) and student-int8/ under root."""
    from ml_core.training import ClassifierConfig, train_classifier

    train, test = stratified_split(toy_data(150, seed=2), test_fraction=0.3, seed=1)
    teacher = root / "teacher"
    train_classifier(ClassifierConfig(base_model=str(teacher_encoder), method="full", epochs=2, batch_size=16,
                                      learning_rate=1e-3, device="cpu", max_length=32, seed=3), train, teacher)
    student_encoder = build_tiny_encoder(root / "student-encoder", hidden_size=16, layers=1, heads=2, seed=11)
    student = root / "student"
    distill_across(teacher, train, student, unlabelled=unlabelled_toy_texts(), unlabelled_sources=["toy-tweets.csv"],
                   eval_data=test, config=fast_config(student_encoder, epochs=2))
    int8 = root / "student-int8"
    result = compress_classifier(student, eval_data=test, train_data=train, out_dir=int8,
                                 config=CompressionConfig(methods=("int8",), max_accuracy_drop=100.0, **FAST_TIMING))
    assert result.promoted == "onnx-int8", result.reason
    return {"teacher": teacher, "student": student, "int8": int8, "encoder": teacher_encoder}


@pytest.fixture(scope="module")
def stages(tmp_path_factory, tiny_encoder_path) -> dict[str, Path]:
    return build_stages(tmp_path_factory.mktemp("card-distillation"), tiny_encoder_path)


def card_of(folder: Path) -> dict:
    reports = read_artifact_reports(folder)
    return build_model_card(title="student", classifier=reports["classifier"], training_data=reports["training_data"],
                            evaluation=reports["evaluation"], evaluated_on=reports["evaluated_on"],
                            artifact_metrics=reports["metrics"], serving=reports["serving"],
                            compression_report=reports["compression"])


def test_the_students_card_names_teacher_transfer_set_and_both_stages(stages):
    import json

    card = card_of(stages["student"])
    distillation = card["distillation"]
    assert distillation["teacher"]["base_model"] == str(stages["encoder"])
    assert distillation["teacher"]["method"] == "full"
    assert distillation["teacher"]["path"] == str(stages["teacher"].resolve())
    transfer = distillation["transfer_set"]
    assert transfer["unlabelled"] == 90 and transfer["sources"] == ["toy-tweets.csv"]
    assert transfer["total"] == transfer["labelled"] + transfer["unlabelled"]
    metrics = json.loads((stages["student"] / "metrics.json").read_text())
    by_stage = {(s["stage"], s["data"].split(" (")[0]): s["accuracy"] for s in distillation["stages"]}
    assert by_stage[("teacher", "held-out split")] == metrics["teacher_accuracy"]["held_out"]
    assert by_stage[("teacher", "test data")] == metrics["teacher_accuracy"]["eval"]
    assert by_stage[("student", "held-out split")] == metrics["accuracy"]
    assert by_stage[("student", "test data")] == metrics["eval_accuracy"]
    test_sizes = {s["data"] for s in distillation["stages"] if s["data"].startswith("test data")}
    assert test_sizes == {"test data (45 texts)"}  # 30 % of build_stages' 150 rows
    assert all(s["data"].endswith(" texts)") for s in distillation["stages"])  # every figure with its sample size
    assert not any(s["stage"] == "served variant" for s in distillation["stages"])  # no int8 in this folder

    markdown = render_markdown(card)
    assert "## Distillation" in markdown
    assert f"- **teacher**: {stages['encoder']} (full)" in markdown
    assert f"{transfer['labelled']} labelled training texts and 90 unlabelled texts from `toy-tweets.csv`" in markdown
    assert "| teacher |" in markdown and "| student |" in markdown


def test_the_int8_students_card_adds_the_served_variants_accuracy(stages):
    import json

    card = card_of(stages["int8"])
    served = json.loads((stages["int8"] / "serving.json").read_text())
    rows = card["distillation"]["stages"]
    assert [s["stage"] for s in rows] == ["teacher", "teacher", "student", "student", "served variant"]
    last = rows[-1]
    assert last["model"] == served["label"] and last["accuracy"] == served["accuracy"]
    assert "the guardrail's data (" in last["data"] and "points lost against the fp32 student" in last["data"]
    assert "| served variant | ONNX int8 (dynamic) |" in render_markdown(card)


def test_an_ordinary_classifiers_card_has_no_distillation_section(stages):
    card = card_of(stages["teacher"])
    assert card["distillation"] is None
    assert "## Distillation" not in render_markdown(card)
