"""The activation policy (apps/core/services/activation.py): enough evidence, degenerate-model
guards, a paired comparison with the active version, the verdict in words on the version, its job
and beside the Activate button; activating by hand stays possible and is audited with the verdict."""
from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from apps.core.models import AuditEvent, ModelVersion
from apps.core.services.activation import (
    ACTIVATE,
    MANUAL,
    REFUSE,
    ClassifierEvidence,
    activation_apply,
    classifier_verdict,
    ranking_verdict,
)
from apps.core.services.registry import BuiltArtifact, model_version_activate, model_version_create
from ml_core.recsys.comparison import BlendComparison

pytestmark = pytest.mark.django_db

LABELS = ["neg", "neu", "pos"]


def _probabilities(predicted: list[str], confidence: float = 0.8) -> np.ndarray:
    """Rows that put `confidence` on the predicted label and share the rest."""
    rows = np.full((len(predicted), len(LABELS)), (1 - confidence) / (len(LABELS) - 1))
    for row, label in zip(rows, predicted):
        row[LABELS.index(label)] = confidence
    return rows


def _balanced(per_label: int) -> list[str]:
    return [label for label in LABELS for _ in range(per_label)]


def _evidence(truth, predicted, **extra) -> ClassifierEvidence:
    options = {"labels": LABELS, "truth": truth, "candidate_probabilities": _probabilities(predicted),
               "temperature": 1.2, "evaluated_on": "the test set", **extra}
    return ClassifierEvidence(**options)


def _version(scenario: str = "tests.policy", payload: str = "w") -> ModelVersion:
    def build(folder):
        (folder / "weights.txt").write_text(payload)
        return BuiltArtifact(metrics={"accuracy": 0.9})

    return model_version_create(scenario=scenario, build=build)


# --- evidence ----------------------------------------------------------------------------------------
def test_a_candidate_better_on_six_texts_is_not_activated_the_reason_says_the_set_is_too_small(admin_client):
    truth = ["neg", "neg", "neu", "neu", "pos", "pos"]
    active = model_version_activate(version=_version(payload="v1"))
    candidate = _version(payload="v2")
    evidence = _evidence(truth, truth, active_version=active.version,  # right on all six, where v1 is right on 3
                         active_predictions=["neg", "pos", "neu", "pos", "pos", "neg"])
    verdict = activation_apply(version=candidate, verdict=classifier_verdict(evidence))

    assert verdict.decision == MANUAL and not verdict.activated
    assert verdict.reason.startswith("Left to a person: the evaluation set is too small to decide: 6 texts "
                                     "(neg 2, neu 2, pos 2); the policy needs 20 of each label")
    assert "ACTIVATION_MIN_EVAL_PER_CLASS" in verdict.reason
    assert verdict.check("paired_comparison").measured.startswith("accuracy 1.000 vs 0.500")
    candidate.refresh_from_db()
    assert not candidate.is_active and ModelVersion.objects.get(pk=active.pk).is_active
    assert candidate.activation_decision == MANUAL and candidate.activation_reason == verdict.reason

    # The version page says why, check by check, and shows the verdict beside the Activate button.
    page = admin_client.get(reverse("model_version_detail", args=[candidate.pk])).content.decode()
    assert "Activation policy: <strong>Left to a person</strong>" in page
    assert 'data-check="evaluation_size"' in page and "the evaluation set is too small to decide" in page
    assert "at least 20 of each label (ACTIVATION_MIN_EVAL_PER_CLASS)" in page
    registry = admin_client.get(reverse("registry")).content.decode()
    assert "Left to a person</strong>: Left to a person: the evaluation set is too small" in registry

    # A person may still activate it: audited, with the policy's verdict beside the activation.
    response = admin_client.post(reverse("model_version_activate", args=[candidate.pk]), follow=True)
    assert "by hand: the activation policy had said “Left to a person”" in response.content.decode()
    assert ModelVersion.objects.get(pk=candidate.pk).is_active
    event = AuditEvent.objects.filter(action=AuditEvent.Action.ACTIVATE).latest("created_at")
    assert event.details["by_hand"] is True and event.details["policy"] == MANUAL
    assert event.details["policy_reason"].startswith("Left to a person: the evaluation set is too small")
    assert event.actor_name == "alice-admin"


def test_enough_evaluation_and_no_active_version_activates(settings):
    truth = _balanced(20)
    verdict = classifier_verdict(_evidence(truth, truth))
    assert verdict.decision == ACTIVATE
    assert verdict.reason.startswith("Activated: no version was active; evaluated on 60 texts")
    assert all(check.passed is not False for check in verdict.checks)
    assert verdict.check("label_shift").passed is None  # nothing to compare with: not measured, not failed


def test_a_candidate_shown_no_worse_on_enough_texts_is_activated_one_shown_worse_is_not():
    truth = _balanced(100)
    same = classifier_verdict(_evidence(truth, truth, active_version=4, active_predictions=truth))
    assert same.decision == ACTIVATE
    assert same.reason.startswith("Activated: shown no worse than the active v4 on the same 300 texts: "
                                  "accuracy 1.000 vs 1.000: difference +0.0 points, 95 % interval -1.3 to +1.3 points")
    assert same.comparison["low"] == pytest.approx(-0.0126, abs=1e-3)

    worse = list(truth)
    for i in range(0, 300, 10):  # wrong on 30 texts the active version gets right
        worse[i] = "pos" if truth[i] != "pos" else "neg"
    verdict = classifier_verdict(_evidence(truth, worse, active_version=4, active_predictions=truth))
    assert verdict.decision == REFUSE
    assert verdict.reason.startswith("Not activated: worse than the active v4 on the same 300 texts: "
                                     "accuracy 0.900 vs 1.000: difference -10.0 points")
    assert "exact McNemar p = 1.86e-09" in verdict.reason and "the margin allows -2.0 points (ACTIVATION_MARGIN)" \
        in verdict.reason

    # A small loss that the evidence cannot rule out: not shown to be no worse, kept.
    slightly = list(truth)
    for i in (0, 100, 200):
        slightly[i] = "pos" if truth[i] != "pos" else "neg"
    verdict = classifier_verdict(_evidence(truth, slightly, active_version=4, active_predictions=truth))
    assert verdict.decision == REFUSE and "not shown to be no worse than the active v4" in verdict.reason


def test_an_active_version_that_cannot_be_scored_leaves_the_decision_to_a_person():
    truth = _balanced(20)
    verdict = classifier_verdict(_evidence(truth, truth, active_version=2, active_error="OSError: gone"))
    assert verdict.decision == MANUAL
    assert verdict.reason == "Left to a person: the active v2 could not be scored on the same texts: OSError: gone."


# --- degenerate-model guards ---------------------------------------------------------------------------
def test_a_collapsed_model_is_refused_naming_the_check():
    truth = _balanced(30)
    verdict = classifier_verdict(_evidence(truth, ["pos"] * 90))
    assert verdict.decision == REFUSE
    assert verdict.reason.startswith("Not activated: Prediction collapse check failed: it predicts 'pos' for "
                                     "100 % of 90 reference texts (limit 90 %; the evaluation texts are 33 % 'pos').")
    check = verdict.check("prediction_collapse")
    assert check.passed is False and check.measured == "'pos' for 100 % of 90 reference texts"
    assert check.threshold == "at most 90 % of the reference texts (ACTIVATION_MAX_TOP_LABEL_SHARE)"

    # Evaluation texts that are themselves nearly all 'pos' make no collapse of a model that says so.
    skewed = ["pos"] * 95 + ["neg"] * 5
    assert classifier_verdict(_evidence(skewed, ["pos"] * 100)).check("prediction_collapse").passed is True


def test_a_near_zero_temperature_is_refused_naming_the_check(settings):
    truth = _balanced(20)
    verdict = classifier_verdict(_evidence(truth, truth, temperature=0.05))
    assert verdict.decision == REFUSE
    assert verdict.reason.startswith("Not activated: Calibration temperature check failed: its calibration "
                                     "temperature is 0.05 (at least 0.1)")
    settings.ACTIVATION_MIN_TEMPERATURE = 0.01
    assert classifier_verdict(_evidence(truth, truth, temperature=0.05)).decision == ACTIVATE


def test_probabilities_of_0_and_1_are_refused_when_they_are_wrong():
    truth = _balanced(20)
    predicted = list(truth)
    predicted[:12] = ["pos"] * 12  # wrong on 12 'neg' texts, and near-certain of it
    sure = _probabilities(predicted, confidence=0.99995)
    verdict = classifier_verdict(_evidence(truth, predicted, candidate_probabilities=sure))
    assert verdict.decision == REFUSE and "Probabilities of 0 and 1 check failed" in verdict.reason
    assert verdict.check("saturated_probabilities").measured == (
        "100 % of 60 reference texts at 99.9 % or more; wrong on 20 % of the 60 evaluation texts it is that sure of")
    # Near-certain and right (easy data): no fault.
    honest = classifier_verdict(_evidence(truth, truth, candidate_probabilities=_probabilities(truth, 0.99995)))
    assert honest.check("saturated_probabilities").passed is True and honest.decision == ACTIVATE


def test_a_large_label_shift_on_live_inputs_is_refused_naming_the_check():
    truth = _balanced(100)
    live_candidate = ["neg"] * 80 + ["neu"] * 20
    live_active = ["neg"] * 23 + ["neu"] * 60 + ["pos"] * 17
    verdict = classifier_verdict(_evidence(truth, truth, active_version=3, active_predictions=truth,
                                           live_probabilities=_probabilities(live_candidate),
                                           live_active_predictions=live_active))
    assert verdict.decision == REFUSE
    assert verdict.reason.startswith("Not activated: Label shift on recent live inputs check failed: its labels on "
                                     "recent live inputs move far from the active version's: 0.57 on 100 recent live "
                                     "inputs ('neg': 80 % vs 23 % for v3); limit 0.30.")
    # The same mix: measured and passed.
    steady = classifier_verdict(_evidence(truth, truth, active_version=3, active_predictions=truth,
                                          live_probabilities=_probabilities(live_active),
                                          live_active_predictions=live_active))
    assert steady.check("label_shift").passed is True and steady.decision == ACTIVATE


# --- the recommender ------------------------------------------------------------------------------------
def _blends(users: int, candidate: list[float], baseline: list[float], top_share: float = 0.2) -> BlendComparison:
    return BlendComparison(users=users, k=10, candidate_ndcg=candidate, baseline_ndcg=baseline,
                           top_item_share=top_share, top_item="film-1")


def test_the_recommender_needs_enough_test_users_and_a_paired_comparison():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 200).tolist()
    few = ranking_verdict(comparison=_blends(20, scores[:20], scores[:20]), active_version=1, evaluated_on="x")
    assert few.decision == MANUAL and "20 test users" in few.reason and "ACTIVATION_MIN_EVAL_USERS" in few.reason

    same = ranking_verdict(comparison=_blends(200, scores, scores), active_version=1, evaluated_on="x")
    assert same.decision == ACTIVATE and same.reason.startswith("Activated: shown no worse than the active v1 on "
                                                                "the same 200 test users: nDCG@10")
    worse = ranking_verdict(comparison=_blends(200, [s * 0.7 for s in scores], scores), active_version=1,
                            evaluated_on="x")
    assert worse.decision == REFUSE and "worse than the active v1 on the same 200 test users" in worse.reason
    assert worse.comparison["method"] == "paired bootstrap over users"

    collapsed = ranking_verdict(comparison=_blends(200, scores, scores, top_share=0.96), active_version=None,
                                evaluated_on="x")
    assert collapsed.decision == REFUSE and collapsed.reason.startswith(
        "Not activated: Recommendation collapse check failed: it recommends the same item to almost everyone: "
        "'film-1' first for 96 % of 200 test users")
    none = ranking_verdict(comparison=None, active_version=None, evaluated_on="x", not_evaluated="no test user")
    assert none.decision == MANUAL and "no held-out evaluation was possible (no test user)" in none.reason


# --- requests --------------------------------------------------------------------------------------------
def test_never_keeps_always_overrides_only_a_lack_of_evidence():
    truth = ["neg", "neu", "pos"]
    manual = classifier_verdict(_evidence(truth, truth))
    version = _version()
    applied = activation_apply(version=version, verdict=manual, request="always")
    assert applied.activated and applied.reason.startswith("Activated because the job asked for it (activate=always)")
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACTIVATE)
    assert event.details["policy"] == MANUAL

    refused = classifier_verdict(_evidence(_balanced(30), ["pos"] * 90))
    second = _version(payload="v2")
    assert not activation_apply(version=second, verdict=refused, request="always").activated

    good = classifier_verdict(_evidence(_balanced(20), _balanced(20)))
    third = _version(payload="v3")
    kept = activation_apply(version=third, verdict=good, request="never", why_not="a test said so")
    assert not kept.activated
    assert kept.reason.startswith("Not activated: a test said so. The policy would have activated it: no version was")
    third.refresh_from_db()
    assert third.activation_decision == ACTIVATE and not third.is_active
