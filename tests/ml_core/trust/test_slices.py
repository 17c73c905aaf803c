"""The slice report's arithmetic: per-column and length slices, the margin, small slices, and
its place in ml_core.evaluation.evaluate."""
import pytest

from ml_core.errors import UserError
from ml_core.trust.slices import SliceSettings, length_bucket, slice_report, wilson_interval


def test_a_slice_far_below_the_whole_is_flagged_and_small_slices_are_not_judged():
    # 100 rows: source "news" 60 rows all right, "forum" 40 rows with 20 wrong; "x" 3 rows (too few).
    y_true = [0] * 100 + [1] * 3
    y_pred = [0] * 60 + [0] * 20 + [1] * 20 + [0] * 3
    meta = [{"source": "news", "id": i} for i in range(60)] + [{"source": "forum", "id": i} for i in range(60, 100)] \
        + [{"source": "x", "id": i} for i in range(100, 103)]
    texts = ["short text"] * 80 + ["a much longer text " * 3] * 20 + ["hi"] * 3
    report = slice_report(y_true, y_pred, texts=texts, meta=meta, settings=SliceSettings(margin=0.05, min_size=10))
    overall = 80 / 103
    assert report["overall_accuracy"] == pytest.approx(overall)
    assert report["columns"] == ["source", "length"]  # "id" has one value per row: not a slice
    by_key = {(s["column"], s["value"]): s for s in report["slices"]}
    forum = by_key[("source", "forum")]
    assert forum["n"] == 40 and forum["accuracy"] == pytest.approx(0.5) and forum["flagged"]
    assert forum["gap"] == pytest.approx(0.5 - overall)
    assert forum["accuracy_low"] < 0.5 < forum["accuracy_high"]
    assert by_key[("source", "news")]["flagged"] is False and by_key[("source", "news")]["macro_f1"] == 1.0
    tiny = by_key[("source", "x")]
    assert tiny["accuracy"] == 0.0 and tiny["judged"] is False and tiny["flagged"] is False
    assert by_key[("length", "9-20 words")]["n"] == 20 and by_key[("length", "9-20 words")]["flagged"]
    assert {(f["column"], f["value"]) for f in report["flagged"]} == {("source", "forum"), ("length", "9-20 words")}


def test_columns_can_be_named_and_unknown_ones_are_refused():
    report = slice_report([0, 1, 1], [0, 1, 0], meta=[{"lang": "en"}, {"lang": "de"}, {}],
                          settings=SliceSettings(columns=("lang",), min_size=1, margin=0.1))
    assert [(s["value"], s["n"]) for s in report["slices"]] == [("(empty)", 1), ("de", 1), ("en", 1)]
    with pytest.raises(UserError, match="no column 'source'"):
        slice_report([0], [0], meta=[{}], settings=SliceSettings(columns=("source",)))
    with pytest.raises(UserError, match="margin"):
        SliceSettings(margin=2).validate()


def test_length_buckets_and_wilson_interval():
    assert [length_bucket(t) for t in ["", "one", "w " * 9, "w " * 21, "w " * 51]] == [
        "1-8 words", "1-8 words", "9-20 words", "21-50 words", "51+ words"]
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_evaluate_carries_the_slice_report(tmp_path, tiny_encoder_path, one_torch_thread):
    from ml_core.data import LabelledTexts
    from ml_core.evaluation import evaluate
    from ml_core.serving import ClassifierPredictor
    from ml_core.training import ClassifierConfig, train_classifier
    from tests.ml_core.test_training import toy_data

    train = toy_data(60)
    train_classifier(ClassifierConfig(base_model=str(tiny_encoder_path), method="head", device="cpu", max_length=32),
                     train, tmp_path / "m")
    data = LabelledTexts(train.texts[:30], train.labels[:30], meta=[{"source": "a" if i % 2 else "b"} for i in range(30)])
    report = evaluate(ClassifierPredictor.load(tmp_path / "m"), data)
    assert report["slices"]["columns"] == ["source", "length"]
    assert sum(s["n"] for s in report["slices"]["slices"] if s["column"] == "source") == 30
    assert "slices" not in evaluate(ClassifierPredictor.load(tmp_path / "m"), data, slices=False)
