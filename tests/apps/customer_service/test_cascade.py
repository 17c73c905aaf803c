"""Every branch of the answering cascade, with controlled intent probabilities and hits."""
from __future__ import annotations

from apps.customer_service.cascade import Hit, RetrievalCalibration, Signals, Thresholds, decide

THRESHOLDS = Thresholds(answer=0.5, clarify_margin=0.15, handoff_intents=frozenset({"contact_human_agent"}))
CALIBRATION = RetrievalCalibration(threshold=0.7, points=((0.5, 0.4), (0.7, 0.9), (0.9, 0.99)))
MAIN = {"track_order": 1, "get_refund": 2, "reset_password": 3, "contact_human_agent": 4, "cancel_order": 5}


def run(intents, hits=()):
    return decide(intents=intents, hits=list(hits), thresholds=THRESHOLDS, retrieval=CALIBRATION,
                  main_entry=MAIN.get)


def test_confident_intent_answers_with_its_nearest_entry():
    hits = [Hit(9, "get_refund", 0.8), Hit(7, "track_order", 0.6), Hit(1, "track_order", 0.5)]
    decision = run([("track_order", 0.91), ("get_refund", 0.05)], hits)
    assert (decision.source, decision.intent, decision.entry_ids) == ("template", "track_order", [7])
    assert decision.confidence == 0.91


def test_confident_intent_without_a_hit_uses_the_intents_main_entry():
    decision = run([("track_order", 0.91), ("get_refund", 0.05)], [Hit(9, "get_refund", 0.3)])
    assert (decision.source, decision.entry_ids) == ("template", [1])


def test_handoff_intent_answers_and_hands_over():
    decision = run([("contact_human_agent", 0.8), ("track_order", 0.1)])
    assert (decision.source, decision.intent, decision.entry_ids) == ("handoff", "contact_human_agent", [4])


def test_unsure_intent_falls_back_to_a_close_enough_retrieval_hit():
    decision = run([("track_order", 0.4), ("get_refund", 0.3)], [Hit(8, "cancel_order", 0.82, "question")])
    assert (decision.source, decision.intent, decision.entry_ids) == ("retrieval", "cancel_order", [8])
    assert decision.confidence == 0.9  # P(right intent) at similarity 0.82 from the calibration


def test_no_intent_model_still_answers_from_retrieval():
    decision = run([], [Hit(3, "reset_password", 0.95)])
    assert (decision.source, decision.entry_ids, decision.confidence) == ("retrieval", [3], 0.99)


def test_two_close_intents_ask_which_one():
    decision = run([("get_refund", 0.42), ("cancel_order", 0.38)], [Hit(2, "get_refund", 0.6)])
    assert (decision.source, decision.intent, decision.entry_ids) == ("clarify", "get_refund", [2, 5])


def test_a_sure_intent_with_a_close_runner_up_is_ambiguous_too():
    decision = run([("get_refund", 0.55), ("cancel_order", 0.45)])
    assert decision.source == "clarify"


def test_low_confidence_hands_over_to_a_person():
    decision = run([("track_order", 0.3), ("get_refund", 0.1)], [Hit(1, "track_order", 0.4)])
    assert (decision.source, decision.entry_ids) == ("handoff", [])
    assert "unsure" in decision.reason


def test_calibration_probability_is_a_step_function():
    assert CALIBRATION.probability(0.6) == 0.4
    assert CALIBRATION.probability(0.95) == 0.99
    assert CALIBRATION.probability(0.1) == 0.4


# --- before the intent model: a person, small talk, open intent (issue 16) -----------------------
OPEN = Signals(open_score=0.31, open_threshold=0.55)
KNOWN = Signals(open_score=0.92, open_threshold=0.55)


def run_with(signals, intents, hits=()):
    return decide(intents=intents, hits=list(hits), thresholds=THRESHOLDS, retrieval=CALIBRATION,
                  main_entry=MAIN.get, signals=signals)


def test_an_open_message_is_never_answered_from_a_template():
    # "do you sell bicycles?" got the delivery answer at 0.85.
    decision = run_with(OPEN, [("track_order", 0.85), ("get_refund", 0.05)], [Hit(1, "track_order", 0.41)])
    assert (decision.source, decision.entry_ids, decision.review) == ("open", [], "open")
    assert "outside the known intents (score 0.310 < 0.550)" in decision.reason


def test_an_open_message_may_still_be_answered_by_a_close_enough_text():
    decision = run_with(OPEN, [("track_order", 0.85)], [Hit(8, "cancel_order", 0.82)])
    assert (decision.source, decision.intent, decision.entry_ids, decision.review) == (
        "retrieval", "cancel_order", [8], "")
    assert decision.reason.startswith("outside the known intents")


def test_an_open_message_is_not_asked_to_choose_between_two_intents():
    decision = run_with(OPEN, [("get_refund", 0.42), ("cancel_order", 0.38)], [Hit(2, "get_refund", 0.6)])
    assert decision.source == "open"


def test_a_known_message_goes_through_the_cascade_as_before():
    assert run_with(KNOWN, [("track_order", 0.91), ("get_refund", 0.05)]).source == "template"
    unsure = run_with(KNOWN, [("track_order", 0.3), ("get_refund", 0.1)])
    assert (unsure.source, unsure.review) == ("handoff", "handed_over")
    assert run_with(KNOWN, [("get_refund", 0.42), ("cancel_order", 0.38)], [Hit(2, "get_refund", 0.6)]).review == "unclear"
    # No detector (a version trained before detectors, or the check turned off): never open.
    assert not Signals(open_score=None, open_threshold=0.5).is_open
    assert not Signals(open_score=0.1, open_threshold=None).is_open


def test_asking_for_a_person_wins_over_a_sure_intent():
    decision = run_with(Signals(person_request="need a person"), [("track_order", 0.98)], [Hit(1, "track_order", 0.9)])
    assert (decision.source, decision.intent, decision.entry_ids, decision.review) == (
        "handoff", "contact_human_agent", [4], "")
    assert decision.confidence == 1.0 and "“need a person”" in decision.reason


def test_small_talk_is_answered_as_small_talk_whatever_the_classifier_says():
    # "hello" was contact_human_agent at 0.91, and handed over.
    decision = run_with(Signals(smalltalk_kind="greeting", smalltalk_score=1.0), [("contact_human_agent", 0.91)],
                        [Hit(4, "contact_human_agent", 0.5)])
    assert (decision.source, decision.intent, decision.entry_ids, decision.review) == ("smalltalk", "greeting", [], "")
