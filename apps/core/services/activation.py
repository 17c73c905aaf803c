"""The activation policy: one service decides whether a new model version goes live, and says why.

Every automatic activation (classifier training, compression, the recommender) goes through
`activation_decide_and_apply`, with the evidence its scenario can give:

1. **Enough evaluation.** At least ACTIVATION_MIN_EVAL_PER_CLASS evaluation texts of every label
   (classifiers), or ACTIVATION_MIN_EVAL_USERS test users (the recommender). With less, the
   policy says so and leaves the decision to a person: an admin can still activate by hand.
2. **Degenerate-model guards**, each a named check with its threshold setting:
   `prediction_collapse` (one label for almost every reference text), `temperature` (a
   calibration temperature near zero), `saturated_probabilities` (probabilities of 0 and 1),
   `label_shift` (the label mix on recent live inputs moves far from the active version's), and
   for the recommender `recommendation_collapse` (the same first item for almost everyone).
   A failed guard keeps the version inactive.
3. **A paired comparison with the active version** on the same evaluation texts (or users): the
   candidate must be *shown no worse*, i.e. the lower end of the ACTIVATION_CONFIDENCE interval
   of (candidate - active) must be above -ACTIVATION_MARGIN (accuracy; Tango's score interval,
   with McNemar's exact test for the record) or -ACTIVATION_RANKING_MARGIN (nDCG@k per user,
   paired bootstrap). Not shown no worse: kept as a version, not activated.

The verdict (decision, reason in words, every check with its measured value and threshold) is
stored on the version and shown on its page, on its job's page, and beside the Activate button.
Activating by hand stays possible for admins; it is audited with the policy's verdict.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings

from ml_core.stats import (
    PairedDifference,
    discordant_counts,
    paired_accuracy_from_answers,
    paired_bootstrap_mean_difference,
)

from ..models import ActivationDecision, ModelVersion
from .model_files import model_version_files_verified
from .registry import RegistryError, model_version_activate

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ml_core.data import LabelledTexts
    from ml_core.recsys import BlendComparison

log = logging.getLogger(__name__)

ACTIVATE, REFUSE, MANUAL = (ActivationDecision.ACTIVATE.value, ActivationDecision.REFUSE.value,
                             ActivationDecision.MANUAL.value)
REQUESTS = ("policy", "never", "always")
SATURATED_PROBABILITY = 0.999  # a top probability this high reads as 100 % / 0 % / 0 % on a page
SATURATED_MAX_WRONG = 0.01  # ten times what near-certainty claims: overconfidence, not chance
MIN_LIVE_FOR_SHIFT = 30  # fewer live inputs measure no label shift worth a verdict
GUARDS = ("prediction_collapse", "temperature", "saturated_probabilities", "label_shift", "recommendation_collapse")
CHECK_TITLES = {
    "evaluation_size": "Evaluation size",
    "paired_comparison": "Paired comparison with the active version",
    "prediction_collapse": "Prediction collapse",
    "temperature": "Calibration temperature",
    "saturated_probabilities": "Probabilities of 0 and 1",
    "label_shift": "Label shift on recent live inputs",
    "recommendation_collapse": "Recommendation collapse",
}


@dataclass
class Check:
    """One named check: passed (None: not measured, the words say why), measured value, threshold."""

    name: str
    passed: bool | None
    measured: str
    threshold: str
    words: str

    @property
    def title(self) -> str:
        return CHECK_TITLES.get(self.name, self.name)

    @property
    def is_guard(self) -> bool:
        return self.name in GUARDS


@dataclass
class Verdict:
    decision: str  # ACTIVATE, REFUSE or MANUAL: what the policy says
    reason: str  # in words; after `activation_apply`, what happened to the version
    checks: list[Check] = field(default_factory=list)
    evaluated_on: str = ""
    compared_with: int | None = None  # the active version's number
    comparison: dict[str, Any] | None = None
    activated: bool = False

    @property
    def outcome(self) -> str:
        """A few words for a job's one-line message."""
        if self.activated:
            return "activated"
        return {MANUAL: "not activated: left to a person (see the version's page)",
                REFUSE: "not activated: the activation policy kept it inactive"}.get(self.decision, "not activated")

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checks"] = [{**asdict(c), "title": c.title, "guard": c.is_guard} for c in self.checks]
        if out["comparison"]:  # jsonb takes no infinity (an interval with nothing to bound it)
            out["comparison"] = {k: None if isinstance(v, float) and not math.isfinite(v) else v
                                 for k, v in out["comparison"].items()}
        return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if 0 < x < 0.1 else f"{100 * x:.0f} %"


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


# --- the decision -------------------------------------------------------------------------------------
def _decide(checks: list[Check], *, evaluated_on: str, compared_with: int | None,
            comparison: dict | None) -> Verdict:
    failed_guards = [c for c in checks if c.is_guard and c.passed is False]
    size = next(c for c in checks if c.name == "evaluation_size")
    paired = next((c for c in checks if c.name == "paired_comparison"), None)
    if failed_guards:
        decision = REFUSE
        reason = "Not activated: " + " ".join(f"{c.title} check failed: {c.words}" for c in failed_guards)
    elif size.passed is not True:
        decision, reason = MANUAL, f"Left to a person: {size.words}"
    elif paired is not None and paired.passed is False:
        decision, reason = REFUSE, f"Not activated: {paired.words}"
    elif paired is not None and paired.passed is None:
        decision, reason = MANUAL, f"Left to a person: {paired.words}"
    else:
        decision = ACTIVATE
        reason = "Activated: " + (paired.words.rstrip(".") if paired is not None else "no version was active")
        reason += f"; {size.words} Every guard passed."
    return Verdict(decision, reason, checks, evaluated_on, compared_with, comparison)


def _size_check(counts: dict[str, int], *, unit: str, need: int, setting: str, what: str) -> Check:
    short = {label: n for label, n in counts.items() if n < need}
    listed = ", ".join(f"{label} {n}" for label, n in sorted(counts.items()))
    total = sum(counts.values())
    measured = f"{total} {unit}" + (f" ({listed})" if len(counts) > 1 else "")
    threshold = f"at least {need} {what} ({setting})"
    if not short:
        return Check("evaluation_size", True, measured, threshold, f"evaluated on {measured}, enough to decide.")
    if len(counts) > 1:
        fewer = "every label has fewer" if len(short) == len(counts) else \
            f"{', '.join(sorted(short))} {'has' if len(short) == 1 else 'have'} fewer"
        words = (f"the evaluation set is too small to decide: {measured}; the policy needs {need} {what} "
                 f"({setting}), and {fewer}.")
    else:
        words = f"the evaluation set is too small to decide: {measured}; the policy needs {need} ({setting})."
    return Check("evaluation_size", False, measured, threshold, words)


def _difference_check(difference: PairedDifference, *, margin: float, setting: str, what: str, metric: str,
                      active: int, scale: Callable[[float], str], unit: str) -> Check:
    level = f"{100 * difference.confidence:.0f} %"
    interval = f"{scale(difference.low)} to {scale(difference.high)}{unit}"
    measured = (f"{metric} {difference.second:.3f} vs {difference.first:.3f}: difference {scale(difference.difference)}"
                f"{unit}, {level} interval {interval}")
    if difference.p_value is not None:
        measured += f", exact McNemar p = {difference.p_value:.3g}"
    threshold = f"interval above {scale(-margin)}{unit} ({setting})"
    if difference.no_worse_within(margin):
        words = f"shown no worse than the active v{active} on the same {difference.n} {what}: {measured}."
        return Check("paired_comparison", True, measured, threshold, words)
    shown_worse = difference.high < 0
    words = (f"{'worse than' if shown_worse else 'not shown to be no worse than'} the active v{active} on the same "
             f"{difference.n} {what}: {measured}; the margin allows {scale(-margin)}{unit} ({setting}).")
    return Check("paired_comparison", False, measured, threshold, words)


# --- classifiers --------------------------------------------------------------------------------------
@dataclass
class ClassifierEvidence:
    """What the policy reads about a candidate classifier (plain data: tests build it directly)."""

    labels: list[str]  # the candidate's labels, in the order of its probability columns
    truth: list[str]  # the evaluation texts' labels
    candidate_probabilities: np.ndarray  # evaluation texts x labels, calibrated
    temperature: float
    evaluated_on: str = "evaluation set"
    active_version: int | None = None
    active_predictions: list[str] | None = None  # the active version's labels for the evaluation texts
    active_error: str = ""  # why the active version could not be scored
    live_probabilities: np.ndarray | None = None  # the candidate on recent live inputs
    live_active_predictions: list[str] | None = None  # the active version on the same inputs


def _collapse_check(predicted: list[str], truth: list[str]) -> Check:
    limit = settings.ACTIVATION_MAX_TOP_LABEL_SHARE
    threshold = f"at most {_pct(limit)} of the reference texts (ACTIVATION_MAX_TOP_LABEL_SHARE)"
    if not predicted:
        return Check("prediction_collapse", None, "no reference texts", threshold, "not measured: no reference texts.")
    label, count = Counter(predicted).most_common(1)[0]
    share = count / len(predicted)
    true_share = truth.count(label) / len(truth) if truth else 0.0
    measured = f"'{label}' for {_pct(share)} of {len(predicted)} reference texts"
    if share <= limit:
        return Check("prediction_collapse", True, measured, threshold, f"predicts {measured}.")
    if true_share >= share - 0.05:
        return Check("prediction_collapse", True, measured, threshold,
                     f"predicts {measured}, but {_pct(true_share)} of the evaluation texts are '{label}': not a collapse.")
    return Check("prediction_collapse", False, measured, threshold,
                 f"it predicts {measured} (limit {_pct(limit)}; the evaluation texts are {_pct(true_share)} '{label}').")


def _temperature_check(temperature: float) -> Check:
    limit = settings.ACTIVATION_MIN_TEMPERATURE
    threshold = f"at least {limit:g} (ACTIVATION_MIN_TEMPERATURE)"
    measured = f"{temperature:.3g}"
    if temperature >= limit:
        return Check("temperature", True, measured, threshold, f"calibration temperature {measured}.")
    return Check("temperature", False, measured, threshold,
                 f"its calibration temperature is {measured} (at least {limit:g}): its logits are multiplied by "
                 f"{1 / max(temperature, 1e-9):.0f}, so it reports near 100 % for everything; the calibration set "
                 "was probably too small or too easy.")


def _saturation_check(top_probabilities: Sequence[float], evaluation: Sequence[tuple[float, bool]]) -> Check:
    """Near-certain answers are only a fault when they are wrong: a model that claims 99.9 % must
    be wrong about once in a thousand of those, not once in ten (easy data saturates honestly)."""
    limit = settings.ACTIVATION_MAX_SATURATED_SHARE
    threshold = (f"at most {_pct(limit)} of the reference texts, unless at most {_pct(SATURATED_MAX_WRONG)} "
                 "of those in the evaluation set are wrong (ACTIVATION_MAX_SATURATED_SHARE)")
    if not len(top_probabilities):
        return Check("saturated_probabilities", None, "no reference texts", threshold, "not measured: no reference texts.")
    share = sum(p >= SATURATED_PROBABILITY for p in top_probabilities) / len(top_probabilities)
    sure = [right for p, right in evaluation if p >= SATURATED_PROBABILITY]
    wrong = (len(sure) - sum(sure)) / len(sure) if sure else 0.0
    measured = (f"{_pct(share)} of {len(top_probabilities)} reference texts at {100 * SATURATED_PROBABILITY:g} % or "
                f"more; wrong on {_pct(wrong)} of the {len(sure)} evaluation texts it is that sure of")
    if share <= limit or wrong <= SATURATED_MAX_WRONG:
        return Check("saturated_probabilities", True, measured, threshold, f"{measured}.")
    return Check("saturated_probabilities", False, measured, threshold,
                 f"it gives probabilities of 0 and 1 and is wrong with them: {measured} (limits {_pct(limit)} and "
                 f"{_pct(SATURATED_MAX_WRONG)}).")


def label_shift(first: Sequence[str], second: Sequence[str]) -> float:
    """Total variation distance between two label mixes: the share of answers that would change label."""
    a, b = Counter(first), Counter(second)
    return 0.5 * sum(abs(a[k] / len(first) - b[k] / len(second)) for k in set(a) | set(b))


def _shift_check(candidate: list[str], active: list[str] | None, active_version: int | None) -> Check:
    limit = settings.ACTIVATION_MAX_LABEL_SHIFT
    threshold = f"at most {limit:.2f} (ACTIVATION_MAX_LABEL_SHIFT)"
    if active is None or active_version is None:
        return Check("label_shift", None, "no active version", threshold, "not measured: no version to compare with.")
    if len(candidate) < MIN_LIVE_FOR_SHIFT:
        return Check("label_shift", None, f"{len(candidate)} recent live inputs", threshold,
                     f"not measured: {len(candidate)} recent live inputs, fewer than {MIN_LIVE_FOR_SHIFT}.")
    shift = label_shift(active, candidate)
    mine, theirs = Counter(candidate), Counter(active)
    moved = max(set(mine) | set(theirs), key=lambda k: abs(mine[k] - theirs[k]))
    measured = (f"{shift:.2f} on {len(candidate)} recent live inputs ('{moved}': {_pct(mine[moved] / len(candidate))} "
                f"vs {_pct(theirs[moved] / len(active))} for v{active_version})")
    if shift <= limit:
        return Check("label_shift", True, measured, threshold, f"label shift {measured}.")
    return Check("label_shift", False, measured, threshold,
                 f"its labels on recent live inputs move far from the active version's: {measured}; limit {limit:.2f}.")


def classifier_verdict(evidence: ClassifierEvidence) -> Verdict:
    """The policy's verdict on a classifier, from its predictions (and the active version's)."""
    import numpy as np

    labels = list(evidence.labels)
    probs = np.asarray(evidence.candidate_probabilities, dtype=np.float64).reshape(-1, len(labels))
    predicted = [labels[i] for i in probs.argmax(axis=1)] if len(probs) else []
    truth = list(evidence.truth)
    live = np.asarray(evidence.live_probabilities if evidence.live_probabilities is not None else np.zeros((0, len(labels))),
                      dtype=np.float64).reshape(-1, len(labels))
    live_predicted = [labels[i] for i in live.argmax(axis=1)] if len(live) else []

    counts = {label: truth.count(label) for label in sorted(set(labels) | set(truth))}
    checks = [_size_check(counts, unit="texts", need=settings.ACTIVATION_MIN_EVAL_PER_CLASS,
                          setting="ACTIVATION_MIN_EVAL_PER_CLASS", what="of each label")]
    comparison = None
    if evidence.active_version is not None:
        if evidence.active_predictions is None:
            checks.append(Check("paired_comparison", None, "not measured", "", (
                f"the active v{evidence.active_version} could not be scored on the same texts"
                f"{': ' + evidence.active_error if evidence.active_error else ''}.")))
        else:
            right_new = [p == t for p, t in zip(predicted, truth)]
            right_old = [p == t for p, t in zip(evidence.active_predictions, truth)]
            difference = paired_accuracy_from_answers(right_old, right_new, confidence=settings.ACTIVATION_CONFIDENCE)
            only_active, only_candidate = discordant_counts(right_old, right_new)
            comparison = {**difference.to_dict(), "metric": "accuracy",
                          "only_active_right": only_active, "only_candidate_right": only_candidate}
            checks.append(_difference_check(difference, margin=settings.ACTIVATION_MARGIN, setting="ACTIVATION_MARGIN",
                                            what="texts", metric="accuracy", active=evidence.active_version,
                                            scale=_points, unit=" points"))
    reference_predicted = predicted + live_predicted
    top = np.concatenate([probs.max(axis=1) if len(probs) else np.zeros(0), live.max(axis=1) if len(live) else np.zeros(0)])
    checks += [_collapse_check(reference_predicted, truth), _temperature_check(float(evidence.temperature)),
               _saturation_check(top.tolist(), [(float(p), pred == t) for p, pred, t in
                                                 zip(probs.max(axis=1) if len(probs) else [], predicted, truth)]),
               _shift_check(live_predicted, evidence.live_active_predictions, evidence.active_version)]
    return _decide(checks, evaluated_on=evidence.evaluated_on, compared_with=evidence.active_version,
                   comparison=comparison)


def _predictions(predictor, texts: list[str]):
    import numpy as np

    if not texts:
        return np.zeros((0, len(predictor.labels)), dtype=np.float64)
    return predictor.predict_proba(texts)


def classifier_evidence(*, version: ModelVersion, evaluation: LabelledTexts, evaluated_on: str,
                        live_texts: Sequence[str] = (), device: str = "cpu") -> ClassifierEvidence:
    """Score the candidate and the active version on the same evaluation texts and live inputs."""
    from ml_core.serving import ClassifierPredictor

    texts, live = list(evaluation.texts), [t for t in live_texts if t and t.strip()]
    candidate = ClassifierPredictor.load(model_version_files_verified(version), device=device)
    probs = _predictions(candidate, texts + live)
    evidence = ClassifierEvidence(labels=list(candidate.labels), truth=list(evaluation.labels),
                                  candidate_probabilities=probs[:len(texts)], temperature=candidate.temperature,
                                  evaluated_on=evaluated_on, live_probabilities=probs[len(texts):])
    active = ModelVersion.objects.filter(scenario=version.scenario, is_active=True).exclude(pk=version.pk).first()
    if active is None:
        return evidence
    evidence.active_version = active.version
    try:
        predictor = ClassifierPredictor.load(model_version_files_verified(active), device=device)
        scored = _predictions(predictor, texts + live).argmax(axis=1).tolist()
    except Exception as exc:  # noqa: BLE001 - a broken active version is a fact for the verdict, not a crash
        log.warning("could not score the active %s for the activation policy: %s", active, exc)
        evidence.active_error = f"{type(exc).__name__}: {exc}"
        return evidence
    answers = [predictor.labels[i] for i in scored]
    evidence.active_predictions, evidence.live_active_predictions = answers[:len(texts)], answers[len(texts):]
    return evidence


def classifier_activation(*, version: ModelVersion, evaluation: LabelledTexts, evaluated_on: str,
                          live_inputs: Callable[[int], list[str]] | None = None, device: str = "cpu",
                          request: str = "policy", why_not: str = "") -> Verdict:
    """Judge a new classifier version (services.classifiers, services.compression) and apply the verdict."""
    live: list[str] = []
    if live_inputs is not None and request != "never":
        try:
            live = list(live_inputs(settings.ACTIVATION_LIVE_SAMPLE))
        except Exception:  # no live sample only leaves the label-shift guard unmeasured
            log.exception("could not read the recent live inputs of %s", version.scenario)
    try:
        verdict = classifier_verdict(classifier_evidence(version=version, evaluation=evaluation,
                                                         evaluated_on=evaluated_on, live_texts=live, device=device))
    except Exception as exc:  # the version is registered: say why nobody could judge it
        log.exception("the activation policy could not judge %s", version)
        verdict = Verdict(MANUAL, f"Left to a person: the activation policy could not judge it: "
                                  f"{type(exc).__name__}: {exc}", evaluated_on=evaluated_on)
    return activation_apply(version=version, verdict=verdict, request=request, why_not=why_not)


# --- the recommender ------------------------------------------------------------------------------------
def ranking_verdict(*, comparison: BlendComparison | None, active_version: int | None, evaluated_on: str,
                    not_evaluated: str = "", active_error: str = "") -> Verdict:
    """The policy's verdict on a recommender, from per-user nDCG@k of its blend and the active one's
    blend on the same test users (`comparison`; None when there was too little data to evaluate,
    `not_evaluated` says why; `active_error`: why the active version could not be compared)."""
    need = settings.ACTIVATION_MIN_EVAL_USERS
    threshold = f"at least {need} test users (ACTIVATION_MIN_EVAL_USERS)"
    if comparison is None:
        size = Check("evaluation_size", False, "no held-out evaluation", threshold,
                     f"no held-out evaluation was possible ({not_evaluated or 'too little data'}).")
        return _decide([size], evaluated_on=evaluated_on, compared_with=active_version, comparison=None)
    checks = [_size_check({"users": comparison.users}, unit="test users", need=need,
                          setting="ACTIVATION_MIN_EVAL_USERS", what="test users")]
    record = None
    if active_version is not None and active_error:
        checks.append(Check("paired_comparison", None, "not measured", "",
                            f"the active v{active_version} could not be compared on the same test users: {active_error}."))
    elif active_version is not None:
        difference = paired_bootstrap_mean_difference(comparison.baseline_ndcg, comparison.candidate_ndcg,
                                                      confidence=settings.ACTIVATION_CONFIDENCE)
        record = {**difference.to_dict(), "metric": f"ndcg@{comparison.k}", "method": "paired bootstrap over users"}
        checks.append(_difference_check(difference, margin=settings.ACTIVATION_RANKING_MARGIN,
                                        setting="ACTIVATION_RANKING_MARGIN", what="test users",
                                        metric=f"nDCG@{comparison.k}", active=active_version,
                                        scale=lambda x: f"{x:+.3f}", unit=""))
    limit = settings.ACTIVATION_MAX_TOP_LABEL_SHARE
    measured = f"'{comparison.top_item}' first for {_pct(comparison.top_item_share)} of {comparison.users} test users"
    passed = comparison.top_item_share <= limit
    checks.append(Check("recommendation_collapse", passed, measured,
                        f"at most {_pct(limit)} of the users (ACTIVATION_MAX_TOP_LABEL_SHARE)",
                        f"recommends {measured}." if passed else
                        f"it recommends the same item to almost everyone: {measured} (limit {_pct(limit)})."))
    return _decide(checks, evaluated_on=evaluated_on, compared_with=active_version, comparison=record)


# --- applying a verdict ---------------------------------------------------------------------------------
def activation_request(value: Any) -> str:
    """A job's `activate` parameter as a request: policy (default), never or always."""
    aliases = {None: "policy", True: "policy", False: "never", "if_better": "policy"}
    request = aliases.get(value, value) if isinstance(value, (bool, str, type(None))) else value
    if request not in REQUESTS:
        from ml_core.errors import UserError

        raise UserError("activate must be one of policy (the activation policy decides), never, always "
                        "(activate unless the policy refuses it)")
    return request


def activation_apply(*, version: ModelVersion, verdict: Verdict, request: str = "policy",
                     why_not: str = "") -> Verdict:
    """Store the verdict on the version and activate it when the policy (or the request) says so.

    request: "policy" activates on ACTIVATE; "always" also when the evidence only falls short
    (MANUAL: the person who started the job decided), never past a REFUSE; "never" does not
    activate (`why_not` says why in words).
    """
    activate = verdict.decision == ACTIVATE or (request == "always" and verdict.decision == MANUAL)
    if request == "never":
        activate = False
        said = (f"The policy would have activated it: {verdict.reason.removeprefix('Activated: ')}"
                if verdict.decision == ACTIVATE else f"The policy said: {verdict.reason}")
        verdict.reason = f"Not activated: {why_not or 'the job asked not to activate'}. {said}"
    elif request == "always" and verdict.decision == MANUAL:
        verdict.reason = f"Activated because the job asked for it (activate=always). The policy said: {verdict.reason}"
    ModelVersion.objects.filter(pk=version.pk).update(
        activation_decision=verdict.decision, activation_reason=verdict.reason[:5000],
        activation_evidence=verdict.to_dict())
    if activate:
        try:
            model_version_activate(version=version, details={"policy": verdict.decision, "policy_reason": verdict.reason})
        except RegistryError as exc:
            verdict.reason += f" It could not be activated: {exc}"
            ModelVersion.objects.filter(pk=version.pk).update(activation_reason=verdict.reason[:5000])
        else:
            verdict.activated = True
    ModelVersion.objects.filter(pk=version.pk).update(activation_evidence=verdict.to_dict())
    version.refresh_from_db()
    log.info("%s: %s", version, verdict.reason)
    return verdict


def activation_by_hand(*, version: ModelVersion, actor=None) -> ModelVersion:
    """An admin activates a version (or rolls back): audited with the policy's verdict beside it."""
    return model_version_activate(version=version, actor=actor, details={
        "by_hand": True, "policy": version.activation_decision or "none",
        "policy_reason": version.activation_reason or "the policy did not decide on this version"})
