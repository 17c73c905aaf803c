"""Open-intent detection: far-away messages refused, known ones accepted, the calibrated refusal rate
holds on fresh known data, and a saved detector answers exactly as the fitted one."""
import json
import math

import numpy as np
import pytest

from ml_core.open_intent import (
    EMBEDDING_METHODS,
    CalibrationCurve,
    CalibrationError,
    OpenIntentConfig,
    OpenIntentDetector,
    OpenIntentError,
)

DIM = 24


def clusters(rng, centres, n_per, spread=0.35):
    """Points around unit centres (isotropic noise), with their cluster names."""
    vectors, labels = [], []
    for i, centre in enumerate(centres):
        vectors.append(centre + spread * rng.normal(size=(n_per, DIM)) / math.sqrt(DIM))
        labels += [f"intent_{i}"] * n_per
    return np.concatenate(vectors).astype(np.float32), labels


def unit_vectors(rng, n):
    v = rng.normal(size=(n, DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(7)
    centres = unit_vectors(rng, 9)
    known, unknown = centres[:5], centres[5:]
    return {"rng": rng, "known": known, "unknown": unknown,
            "train": clusters(rng, known, 80), "calibration": clusters(rng, known, 200),
            "fresh": clusters(rng, known, 800), "open": clusters(rng, unknown, 100)[0]}


def logits_of(vectors, centres, scale=8.0):
    """A linear classifier's logits: scaled cosine to each known centre."""
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return scale * v @ centres.T


@pytest.mark.parametrize("method", EMBEDDING_METHODS)
def test_each_method_accepts_known_messages_and_refuses_far_away_ones(world, method):
    detector = OpenIntentDetector.fit(*world["train"], config=OpenIntentConfig(method=method, logit_score=None,
                                                                               target_false_rejection=0.05))
    fresh, fresh_labels = world["fresh"]
    refused_known = detector.is_open(fresh).mean()
    assert refused_known < 0.12
    assert detector.is_open(world["open"]).mean() > 0.95
    # Opposite directions to every known centre are as far away as a message can be.
    assert detector.is_open(-world["known"]).all()
    decisions = detector.decide(fresh[:200])
    accepted = [(d.label, truth) for d, truth in zip(decisions, fresh_labels[:200]) if not d.is_open]
    assert accepted and np.mean([label == truth for label, truth in accepted]) > 0.95


@pytest.mark.parametrize("method", EMBEDDING_METHODS)
@pytest.mark.parametrize("target", [0.05, 0.2])
def test_the_calibrated_threshold_refuses_the_requested_share_of_fresh_known_messages(world, method, target):
    config = OpenIntentConfig(method=method, logit_score=None, target_false_rejection=target)
    calibration, _ = world["calibration"]
    detector = OpenIntentDetector.fit(*world["train"], config=config, calibration_vectors=calibration)
    fresh, _ = world["fresh"]
    refused = detector.is_open(fresh).mean()
    # Sampling error of the calibration quantile (n = 1000) and of the fresh share (n = 4000).
    tolerance = 3 * (math.sqrt(target * (1 - target) / len(calibration))
                     + math.sqrt(target * (1 - target) / len(fresh)))
    assert abs(refused - target) < tolerance, (method, target, refused)
    assert detector.curve.refused_share(detector.threshold) == pytest.approx(target, abs=0.003)


def test_cross_fitting_without_held_out_texts_also_meets_the_target(world):
    train, labels = clusters(world["rng"], world["known"], 300)
    detector = OpenIntentDetector.fit(train, labels, config=OpenIntentConfig(logit_score=None,
                                                                             target_false_rejection=0.1))
    assert detector.curve.n == len(train)  # every training text scored once, out of fold
    refused = detector.is_open(world["fresh"][0]).mean()
    # An index of 4/5 of the texts scores known messages a little lower than the final one:
    # cross-fitting may refuse slightly fewer than asked, never many more.
    assert 0.05 < refused < 0.1 + 3 * math.sqrt(0.09 / len(train))


def test_the_logit_score_is_added_when_the_classifier_logits_are_given(world):
    calibration, _ = world["calibration"]
    config = OpenIntentConfig(target_false_rejection=0.1)  # knn + maxlogit, the default
    detector = OpenIntentDetector.fit(*world["train"], config=config, calibration_vectors=calibration,
                                      calibration_logits=logits_of(calibration, world["known"]))
    fresh, _ = world["fresh"]
    refused = detector.is_open(fresh, logits_of(fresh, world["known"])).mean()
    assert abs(refused - 0.1) < 0.05
    assert detector.is_open(world["open"], logits_of(world["open"], world["known"])).mean() > 0.95
    with pytest.raises(OpenIntentError, match="pass the message logits"):
        detector.scores(fresh)
    with pytest.raises(OpenIntentError, match="one row per text"):
        detector.scores(fresh, logits_of(fresh[:3], world["known"]))
    with pytest.raises(OpenIntentError, match="needs held-out calibration texts"):
        OpenIntentDetector.fit(*world["train"], config=config)  # no calibration logits to standardise on


def test_decisions_keep_the_classifier_label_of_accepted_messages_and_none_for_open_ones(world):
    detector = OpenIntentDetector.fit(*world["train"], config=OpenIntentConfig(logit_score=None))
    messages = np.concatenate([world["fresh"][0][:1], -world["known"][:1]])
    first, second = detector.decide(messages, ["billing", "billing"])
    assert (first.is_open, first.label, first.nearest_label) == (False, "billing", "intent_0")
    assert (second.is_open, second.label) == (True, None)
    assert second.score < second.threshold <= first.score
    assert json.loads(json.dumps(first.to_dict()))["label"] == "billing"
    stricter = detector.decide(messages[:1], target_false_rejection=0.9)[0]
    assert stricter.threshold > first.threshold


@pytest.mark.parametrize("method", EMBEDDING_METHODS)
def test_save_and_load_round_trip(world, tmp_path, method):
    config = OpenIntentConfig(method=method, target_false_rejection=0.07)
    calibration, _ = world["calibration"]
    detector = OpenIntentDetector.fit(*world["train"], config=config, calibration_vectors=calibration,
                                      calibration_logits=logits_of(calibration, world["known"]))
    detector.save(tmp_path)
    again = OpenIntentDetector.load(tmp_path)
    messages = np.concatenate([world["fresh"][0][:300], world["open"][:100]])
    logits = logits_of(messages, world["known"])
    np.testing.assert_array_equal(again.scores(messages, logits), detector.scores(messages, logits))
    assert again.decide(messages, logits=logits) == detector.decide(messages, logits=logits)
    assert (again.config, again.labels, again.curve) == (detector.config, detector.labels, detector.curve)
    saved = json.loads((tmp_path / "open_intent.json").read_text())
    assert saved["threshold"] == pytest.approx(detector.threshold)
    assert saved["calibration"]["n"] == len(calibration)


def test_the_calibration_curve_is_json_and_its_two_directions_agree():
    scores = np.random.default_rng(0).normal(size=2000)
    curve = CalibrationCurve.from_scores(scores, score="test")
    again = CalibrationCurve.from_dict(json.loads(json.dumps(curve.to_dict())))
    assert again == curve
    for rate in (0.0, 0.01, 0.05, 0.1, 0.3, 0.9):
        threshold = curve.threshold_for(rate)
        assert np.mean(scores < threshold) == pytest.approx(rate, abs=0.002)
        assert curve.refused_share(threshold) == pytest.approx(rate, abs=0.002)
    assert curve.refused_share(scores.min() - 1) == 0.0 and curve.refused_share(scores.max() + 1) == 1.0
    assert curve.sampling_error(0.05) == pytest.approx(math.sqrt(0.05 * 0.95 / 2000))
    points = curve.points()
    assert points[0]["refused_share"] == 0.0 and points[-1]["refused_share"] == 1.0
    assert np.all(np.diff([p["threshold"] for p in points]) >= 0)


@pytest.mark.parametrize("data, message", [
    ({"format": "something else"}, "not an open-intent calibration curve"),
    ({"format": "ml_core.open_intent_calibration", "n": 5, "rates": [0, 1]}, "incomplete or malformed"),
    ({"format": "ml_core.open_intent_calibration", "n": 5, "rates": [0, 1], "thresholds": [2, 1]},
     "must not decrease"),
    ([1, 2], "not an open-intent calibration curve"),
])
def test_a_malformed_curve_is_refused_with_a_reason(data, message):
    with pytest.raises(CalibrationError, match=message):
        CalibrationCurve.from_dict(data)


def test_bad_inputs_are_refused_with_a_reason(world, tmp_path):
    train, labels = world["train"]
    with pytest.raises(OpenIntentError, match="method must be one of"):
        OpenIntentConfig(method="magic").validate()
    with pytest.raises(OpenIntentError, match=r"must be in \[0, 1\)"):
        OpenIntentConfig(target_false_rejection=1.5).validate()
    with pytest.raises(OpenIntentError, match="unknown open-intent option"):
        OpenIntentConfig.from_dict({"method": "knn", "radius": 3})
    with pytest.raises(OpenIntentError, match="labels"):
        OpenIntentDetector.fit(train, labels[:-1], config=OpenIntentConfig(logit_score=None))
    with pytest.raises(OpenIntentError, match="NaN"):
        OpenIntentDetector.fit(np.full((4, DIM), np.nan), ["a"] * 4, config=OpenIntentConfig(logit_score=None))
    with pytest.raises(CalibrationError, match="at least 10"):
        OpenIntentDetector.fit(train[:6], labels[:6], config=OpenIntentConfig(logit_score=None))
    detector = OpenIntentDetector.fit(train, labels, config=OpenIntentConfig(logit_score=None))
    with pytest.raises(OpenIntentError, match="dimension"):
        detector.scores(np.zeros((2, DIM + 1)))
    with pytest.raises(OpenIntentError, match="must be in"):
        detector.decide(train[:2], target_false_rejection=-0.1)
    assert detector.scores(np.zeros((0, DIM))).shape == (0,)
    with pytest.raises(OpenIntentError, match="has no open-intent detector"):
        OpenIntentDetector.load(tmp_path)
    detector.save(tmp_path)
    (tmp_path / "open_intent.json").write_text("{not json")
    with pytest.raises(OpenIntentError, match="not valid JSON"):
        OpenIntentDetector.load(tmp_path)


@pytest.mark.slow
def test_on_banking77_intents_with_the_bundled_model(tmp_path):
    """A head classifier on 6 Banking77 intents: its detector refuses most texts of 6 other intents."""
    from ml_core.data import load_labelled, stratified_split
    from ml_core.open_intent import ClassifierEmbedder, fit_for_classifier
    from ml_core.serving import ClassifierPredictor
    from ml_core.training import ClassifierConfig, train_classifier
    from tests.conftest import SHARED_DATA

    train_all = load_labelled(SHARED_DATA / "banking77" / "train.csv", label_col="category")
    test_all = load_labelled(SHARED_DATA / "banking77" / "test.csv", label_col="category", dedupe=False)
    intents = train_all.label_set
    known, unknown = set(intents[0:60:10]), set(intents[5:65:10])
    train, valid = stratified_split(train_all.where(lambda t, label, m: label in known), test_fraction=0.25, seed=0)
    config = ClassifierConfig(method="head", max_length=64, device="cpu", cpu_threads=2, seed=0)
    train_classifier(config, train, tmp_path / "model", valid=valid)

    embedder = ClassifierEmbedder.load(tmp_path / "model")
    detector = fit_for_classifier(embedder, train.texts, train.labels, calibration_texts=valid.texts,
                                  config=OpenIntentConfig(target_false_rejection=0.1))
    detector.save(tmp_path / "model")
    detector = OpenIntentDetector.load(tmp_path / "model")

    known_test = test_all.where(lambda t, label, m: label in known)
    open_test = test_all.where(lambda t, label, m: label in unknown)
    predictor = ClassifierPredictor.load(tmp_path / "model", backend="torch")
    vectors, logits = embedder.embed_with_logits(known_test.texts + open_test.texts)
    np.testing.assert_allclose(logits, predictor.predict_logits(known_test.texts + open_test.texts), atol=1e-4)
    predicted = [p.label for p in predictor.predict(known_test.texts + open_test.texts)]
    decisions = detector.decide(vectors, predicted, logits=logits)
    on_known, on_open = decisions[: len(known_test)], decisions[len(known_test):]
    refused_known = np.mean([d.is_open for d in on_known])
    # 10 % asked; about 190 test and 120 calibration texts leave a few points of sampling error.
    assert refused_known < 0.2  # 0.08 measured
    assert np.mean([d.is_open for d in on_open]) > 0.85  # 0.98 measured
    accepted = [(d.label, truth) for d, truth in zip(on_known, known_test.labels) if not d.is_open]
    assert np.mean([label == truth for label, truth in accepted]) > 0.95
