"""The whole run: variants scored side by side, the guardrail, the promoted folder."""
import json

import pytest

from ml_core.compression import CompressionConfig, choose_promoted, compress_classifier
from ml_core.errors import UserError
from ml_core.training.model import read_artifact_config

from .conftest import FAST_TIMING


def test_every_method_builds_a_scored_timed_variant_and_the_best_is_promoted(tmp_path, tiny_classifier, toy_splits):
    train, valid = toy_splits
    config = CompressionConfig(methods=("onnx", "int8", "int8-static", "prune", "prune-structured", "distill"),
                               max_accuracy_drop=100.0, drop_layers=1, sparsity=0.5, distill_epochs=1,
                               recovery_epochs=1, **FAST_TIMING)
    seen = []
    result = compress_classifier(tiny_classifier, eval_data=valid, train_data=train, config=config,
                                 out_dir=tmp_path / "out", progress=lambda p, m="": seen.append(p))
    rows = {r["name"]: r for r in result.report["variants"]}
    assert list(rows) == ["pytorch-fp32", "onnx-fp32", "onnx-int8", "onnx-int8-static", "pruned",
                          "pruned-structured", "distilled"]
    for row in rows.values():
        assert 0 <= row["accuracy"] <= 1 and row["size_mb"] > 0 and row["parameters"] > 0
        assert set(row["latency"]) == {"1", "8"} and row["latency"]["1"]["p95_ms"] >= row["latency"]["1"]["p50_ms"] > 0
    assert rows["onnx-fp32"]["accuracy_drop_points"] == 0 and rows["onnx-fp32"]["agreement_with_fp32"] == 1.0
    assert rows["onnx-int8"]["size_ratio"] < 0.3
    assert rows["pruned"]["info"]["linear_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert rows["pruned-structured"]["info"]["layers_kept"] == 1
    assert rows["distilled"]["info"]["layers_kept"] == [1]  # every other layer of 2, ending with the last
    assert rows["distilled"]["parameters"] < rows["pytorch-fp32"]["parameters"]
    assert seen == sorted(seen) and seen[-1] == 100.0

    # The promoted variant is the fastest that passed; its folder serves it.
    assert result.promoted in rows and result.reason.startswith(f"{rows[result.promoted]['label']} promoted")
    serving = json.loads((tmp_path / "out" / "serving.json").read_text())
    assert serving["variant"] == result.promoted
    assert json.loads((tmp_path / "out" / "compression.json").read_text())["promoted"] == result.promoted
    assert read_artifact_config(tmp_path / "out").labels == read_artifact_config(tiny_classifier).labels


def test_guardrail_refuses_a_variant_that_loses_too_much(tmp_path, tiny_classifier, toy_splits):
    train, valid = toy_splits
    # A recovery fine-tune with a learning rate far too high wrecks the pruned model.
    config = CompressionConfig(methods=("prune",), sparsity=0.5, recovery_epochs=1, student_learning_rate=10.0,
                               max_accuracy_drop=0.5, **FAST_TIMING)
    result = compress_classifier(tiny_classifier, eval_data=valid, train_data=train, config=config,
                                 out_dir=tmp_path / "out")
    pruned = result.row("pruned")
    assert pruned["accuracy_drop_points"] > 0.5
    assert result.promoted is None and result.out_dir is None
    assert result.reason.startswith("nothing promoted: pruned (50% unstructured) loses")
    assert "at most 0.50 allowed" in result.reason
    assert not (tmp_path / "out").exists()


def test_choose_promoted_takes_the_fastest_within_the_bound_and_says_why_for_the_rest():
    def row(name, method, drop, speedup, texts_per_s):
        return {"name": name, "label": name, "method": method, "accuracy": 0.9 - drop / 100,
                "accuracy_drop_points": drop, "throughput_speedup": speedup, "size_ratio": 0.25,
                "latency": {"32": {"texts_per_s": texts_per_s}}}

    rows = [row("pytorch-fp32", "baseline", 0.0, 1.0, 100), row("onnx-fp32", "onnx", 0.0, 1.4, 140),
            row("onnx-int8", "int8", 0.3, 3.0, 300), row("onnx-int8-static", "int8-static", 0.9, 3.5, 350),
            row("pruned", "prune", 0.1, 1.0, 100)]
    name, reason = choose_promoted(rows, methods=("onnx", "int8", "int8-static", "prune"), max_accuracy_drop=0.5,
                                   batch_size=32)
    assert name == "onnx-int8"
    assert "onnx-int8-static loses 0.90 accuracy points (at most 0.50 allowed)" in reason
    assert "pruned is not faster than PyTorch fp32" in reason
    # Only the methods asked for are candidates.
    assert choose_promoted(rows, methods=("onnx",), max_accuracy_drop=0.5, batch_size=32)[0] == "onnx-fp32"
    assert choose_promoted(rows, methods=("int8-static",), max_accuracy_drop=0.5, batch_size=32)[0] is None
    # A higher bar on speed, or none at all.
    name, reason = choose_promoted(rows, methods=("onnx", "prune"), max_accuracy_drop=0.5, batch_size=32,
                                   min_speedup=1.5)
    assert name is None and "onnx-fp32 is not more than 1.50× as fast as PyTorch fp32 at batch 32 (1.40×)" in reason
    assert choose_promoted(rows, methods=("prune",), max_accuracy_drop=0.5, batch_size=32, min_speedup=0.0)[0] == \
        "pruned"


def test_a_variant_that_changes_too_many_answers_is_refused_even_at_fp32_accuracy():
    """The activation policy's paired test in the guardrail: as accurate on this sample, but with so
    many answers changed that it cannot be shown within the margin, so the next fastest is promoted."""
    def row(name, method, speedup, texts_per_s, paired):
        return {"name": name, "label": name, "method": method, "accuracy": 0.8, "accuracy_drop_points": 0.0,
                "throughput_speedup": speedup, "size_ratio": 0.25, "latency": {"32": {"texts_per_s": texts_per_s}},
                "paired_with_fp32": paired}

    def paired(lost, gained, low, shown):
        return {"n": 774, "only_fp32_right": lost, "only_variant_right": gained, "confidence": 0.95,
                "low_points": low, "high_points": -low, "shown_no_worse": shown}

    rows = [row("onnx-int8-static", "int8-static", 2.3, 230, paired(29, 28, -2.05, False)),
            row("onnx-int8", "int8", 2.0, 200, paired(7, 8, -0.95, True))]
    name, reason = choose_promoted(rows, methods=("int8", "int8-static"), max_accuracy_drop=0.5, batch_size=32,
                                   no_worse_margin=2.0)
    assert name == "onnx-int8"
    assert ("onnx-int8-static is not shown within 2.0 points of fp32: it changes 57 of 774 answers (right only "
            "in fp32: 29, only in it: 28), 95 % interval -2.0 to +2.0 points") in reason
    # Without the margin, the point estimate alone decides, as before.
    assert choose_promoted(rows, methods=("int8", "int8-static"), max_accuracy_drop=0.5, batch_size=32)[0] == \
        "onnx-int8-static"


def test_the_paired_comparison_is_measured_for_every_variant_and_a_small_sample_promotes_nothing(
        tmp_path, tiny_classifier, toy_splits):
    train, valid = toy_splits
    config = CompressionConfig(methods=("onnx", "int8"), max_accuracy_drop=100.0, no_worse_margin=2.0, **FAST_TIMING)
    result = compress_classifier(tiny_classifier, eval_data=valid, train_data=train, config=config)
    rows = {r["name"]: r for r in result.report["variants"]}
    for row in rows.values():
        paired = row["paired_with_fp32"]
        assert paired["n"] == len(valid)
        changed = paired["only_fp32_right"] + paired["only_variant_right"]
        assert changed <= round((1 - row["agreement_with_fp32"]) * len(valid))
        assert paired["low_points"] <= -row["accuracy_drop_points"] <= paired["high_points"]
    # Identical answers on a few dozen texts cannot show two models within 2 points of each other.
    assert rows["onnx-fp32"]["paired_with_fp32"]["only_fp32_right"] == 0
    assert result.promoted is None and "is not shown within 2.0 points of fp32" in result.reason
    assert result.report["config"]["no_worse_margin"] == 2.0


def test_bad_options_are_refused_before_any_work(tiny_classifier, toy_splits):
    _train, valid = toy_splits
    with pytest.raises(UserError, match="unknown compression method"):
        CompressionConfig(methods=("int4",)).validate()
    with pytest.raises(UserError, match="max_accuracy_drop must be >= 0"):
        CompressionConfig(max_accuracy_drop=-1).validate()
    with pytest.raises(UserError, match="no_worse_margin must be >= 0"):
        CompressionConfig(no_worse_margin=-1).validate()
    with pytest.raises(UserError, match="no_worse_confidence must be at least 0.5"):
        CompressionConfig(no_worse_confidence=1.0).validate()
    with pytest.raises(UserError, match="need training texts"):
        compress_classifier(tiny_classifier, eval_data=valid, config=CompressionConfig(methods=("distill",)))
    with pytest.raises(UserError, match="unknown compression option"):
        CompressionConfig.from_dict({"methods": ["int8"], "bits": 4})
