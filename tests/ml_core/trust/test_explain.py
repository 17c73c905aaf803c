"""Explanations on a tiny fine-tuned classifier: attribution shape and offsets, completeness,
targets, truncation, the faithfulness (deletion) check, similarity attributions, and the CLI."""
import json

import numpy as np
import pytest

from ml_core.cli import main as cli_main
from ml_core.data import stratified_split
from ml_core.errors import UserError
from ml_core.training import ClassifierConfig, train_classifier
from ml_core.trust.explain import Explainer, ExplainSettings, Explanation, SimilarityExplainer
from ml_core.trust.faithfulness import FaithfulnessSettings, faithfulness_check
from tests.ml_core.test_training import WORDS, toy_data

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_encoder_path):
    """A logistic head on a tiny encoder, trained on the toy sentiment words: its probabilities depend on them."""
    train, valid = stratified_split(toy_data(150), test_fraction=0.2, seed=1)
    folder = tmp_path_factory.mktemp("explain") / "model"
    config = ClassifierConfig(base_model=str(tiny_encoder_path), method="head", device="cpu", max_length=32, seed=3)
    result = train_classifier(config, train, folder, valid=valid)
    assert result.metrics["accuracy"] > 0.9  # the words must matter for the checks below to mean anything
    return folder


@pytest.fixture(scope="module")
def explainer(model_dir):
    return Explainer.load(model_dir, settings=ExplainSettings(steps=16))


def test_attributions_have_one_score_per_piece_and_word_with_offsets(explainer):
    text = "great happy win, isn't it? number 7"
    explanation = explainer.explain(text)
    encoded = explainer.encode(text)
    assert len(explanation.tokens) == sum(not s for s in encoded.special)  # [CLS]/[SEP] left out
    assert [w.text for w in explanation.words] == ["great", "happy", "win", ",", "isn", "'", "t", "it", "?", "number", "7"]
    for item in explanation.tokens + explanation.words:
        assert text[item.start:item.end] == item.text and np.isfinite(item.score)
    # The segments give back the text exactly, words carrying a weight in [-1, 1].
    segments = explanation.segments()
    assert "".join(s["text"] for s in segments) == text
    weights = [s["weight"] for s in segments if s["weight"] is not None]
    assert len(weights) == len(explanation.words) and max(abs(w) for w in weights) == pytest.approx(1.0)
    assert explanation.label == "pos" and explanation.label_index == explainer.labels.index("pos")
    assert explanation.value == pytest.approx(explanation.probabilities["pos"], abs=1e-5)
    # Completeness: the scores add up to the probability gained from the baseline.
    total = sum(t.score for t in explanation.tokens)
    assert total == pytest.approx(explanation.value - explanation.baseline_value, abs=explanation.convergence_delta + 1e-4)
    plain = explainer.explain("table great happy win number 7")
    assert plain.top_words(1)[0].text in WORDS["pos"]


def test_a_chosen_label_is_explained_and_bad_targets_are_refused(explainer):
    by_name = explainer.explain("bad awful loss", target="pos")
    assert by_name.label == "pos" and by_name.value == pytest.approx(by_name.probabilities["pos"], abs=1e-5)
    assert explainer.explain("bad awful loss", target=explainer.labels.index("pos")).label == "pos"
    assert explainer.explain("bad awful loss").label == "neg"
    with pytest.raises(UserError, match="unknown label 'joy'"):
        explainer.explain("bad", target="joy")
    with pytest.raises(UserError, match="out of range"):
        explainer.explain("bad", target=7)
    with pytest.raises(UserError, match="empty"):
        explainer.explain("   ")
    with pytest.raises(UserError, match="steps"):
        ExplainSettings(steps=1).validate()


def test_a_long_text_is_marked_truncated_and_its_tail_has_no_score(explainer):
    text = " ".join(["great"] * 40) + " tail words"
    explanation = explainer.explain(text)
    assert explanation.truncated
    last = explanation.segments()[-1]
    assert last["unread"] is True and last["weight"] is None and last["text"].endswith("tail words")
    round_trip = Explanation.from_dict(explanation.to_dict())
    assert [w.text for w in round_trip.words] == [w.text for w in explanation.words]


def test_the_deletion_check_passes_for_a_model_that_reads_its_words(explainer):
    texts = toy_data(60, seed=9).texts + ["ok", "good day"]
    report = faithfulness_check(explainer, texts, settings=FaithfulnessSettings(max_examples=40, random_trials=4))
    assert report["n"] == 40 and report["skipped_short"] == 2  # a sample of 40 of the 60 long-enough texts
    assert report["mean_drop_top"] > report["mean_drop_random"] and report["passed"] is True
    assert report["p_value"] < 0.05 and 0 <= report["share_top_beats_random"] <= 1
    with pytest.raises(UserError, match="fraction"):
        FaithfulnessSettings(fraction=1.5).validate()


def test_similarity_attributions_explain_closeness_to_a_reference(tiny_encoder_path):
    from ml_core.backbone import encode_texts, load_sentence_encoder

    encoder = load_sentence_encoder(str(tiny_encoder_path))
    vectors = encode_texts(encoder, ["refund my money", "a red chair"])
    # encode_texts normalises embeddings (the tiny encoder has no Normalize module): say so
    explainer = SimilarityExplainer.from_sentence_transformer(encoder, normalize=True,
                                                              settings=ExplainSettings(steps=12))
    # As the recommender does: vectors centred on the catalogue mean, the reference in that space.
    centre = vectors.mean(axis=0)
    reference = vectors[0] - centre
    explanation = explainer.explain("please refund my money now", reference, centre=centre)
    assert [w.text for w in explanation.words] == ["please", "refund", "my", "money", "now"]
    query = encode_texts(encoder, ["please refund my money now"])[0] - centre
    expected = float(query @ reference / np.linalg.norm(query) / np.linalg.norm(reference))
    assert explanation.value == pytest.approx(expected, abs=1e-4)
    total = sum(w.score for w in explanation.words)
    assert total == pytest.approx(explanation.value - explanation.baseline_value,
                                  abs=explanation.convergence_delta + 1e-4)


def test_cli_prints_one_json_object_per_text_and_one_line_errors(model_dir, tmp_path, capsys):
    assert cli_main(["explain", "--model", str(model_dir), "--text", "great win", "--text", "sad loss",
                     "--steps", "8"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["label"] for line in lines] == ["pos", "neg"]
    assert [w["text"] for w in lines[0]["words"]] == ["great", "win"]
    assert set(lines[0]) >= {"tokens", "words", "segments", "value", "convergence_delta", "seconds"}
    assert cli_main(["explain", "--model", str(tmp_path / "missing"), "--text", "x"]) == 2
    assert "has no classifier.json" in capsys.readouterr().err
    assert cli_main(["explain", "--model", str(model_dir), "--text", "x", "--target", "joy"]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown label 'joy'; the model knows: neg, neu, pos"

    data = tmp_path / "texts.csv"
    data.write_text("text\n" + "\n".join(toy_data(12, seed=4).texts) + "\n")
    assert cli_main(["faithfulness", "--model", str(model_dir), "--data", str(data), "--n", "12", "--steps", "8",
                     "--random-trials", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 12 and report["steps"] == 8 and {"mean_drop_top", "mean_drop_random", "passed"} <= set(report)


def test_several_texts_explained_together_score_as_one_at_a_time(explainer):
    """explain_many pads the texts into one integrated-gradients pass (issue 18: the check of a
    training's explanations): each text keeps its own words, label and scores."""
    texts = ["great happy win", "bad awful loss and a sad day", "table number 7 great", "sad"]
    together = explainer.explain_many(texts, batch_size=3)
    for text, batched in zip(texts, together):
        alone = explainer.explain(text)
        assert [w.text for w in batched.words] == [w.text for w in alone.words]
        assert batched.label == alone.label and batched.value == pytest.approx(alone.value, abs=1e-5)
        assert [t.score for t in batched.tokens] == pytest.approx([t.score for t in alone.tokens], abs=1e-4)
        assert batched.convergence_delta == pytest.approx(alone.convergence_delta, abs=1e-4)
    assert explainer.explain_many(["bad awful loss"], targets=["pos"])[0].label == "pos"
    with pytest.raises(UserError, match="one target per text"):
        explainer.explain_many(["a", "b"], targets=["pos"])


def test_the_deletion_check_says_which_texts_it_is_explaining(explainer):
    """Progress moves batch by batch, so a long check never looks hung; the result is the same
    whatever the batch size (the random deletions are drawn in the same order)."""
    texts = toy_data(30, seed=5).texts
    reports = []
    settings = FaithfulnessSettings(max_examples=20, random_trials=3)
    one_by_one = faithfulness_check(explainer, texts, settings=settings, batch_size=1)
    batched = faithfulness_check(explainer, texts, settings=settings, batch_size=8,
                                 progress=lambda percent, message="": reports.append((percent, message)))
    assert [m for _, m in reports] == ["explaining texts 1-8 of 20", "explaining texts 9-16 of 20",
                                       "explaining texts 17-20 of 20", "explained 20 texts"]
    assert [p for p, _ in reports] == [0, 40, 80, 100]
    for key in ("n", "mean_drop_top", "mean_drop_random", "share_top_beats_random", "passed"):
        assert batched[key] == pytest.approx(one_by_one[key], abs=1e-4), key
