"""The answering cascade: decide how to reply from the intent probabilities and the retrieval hits.

Plain Python (no Django, no models), so every branch can be tested with controlled inputs.
Before the intent model is asked:

 a. **handoff** when the message asks for a person anywhere in it (person_request.py), whatever
    intent the rest of it is likelier to be;
 b. **smalltalk** (greetings, thanks, "are you a bot?": smalltalk.py) gets its own answer: never
    a knowledge-base entry, never a person;
 c. **open**: the open-intent detector found the message unlike every known intent. It is never
    answered from an intent's template; retrieval may still answer when a knowledge-base text
    is close enough (2.); otherwise the assistant says what it can help with and offers a
    person (source "open"), and the question goes to the review queue.

Then, for a message of a known intent:

 1. **template**: the classifier is sure (calibrated probability >= `answer`) and the runner-up is
    not close: answer with that intent's best entry (the entry of the intent nearest to the
    question, else the intent's main entry). An intent listed in `handoff_intents` (e.g. "talk
    to a person") answers with its entry *and* hands over: source "handoff".
 2. **retrieval**: otherwise, when the nearest knowledge-base text is similar enough (the
    calibrated retrieval threshold), answer with its entry.
 3. **clarify**: otherwise, when the two likeliest intents are close to each other and together
    reach the answer threshold, ask which one the customer means, offering both entries.
 4. **handoff**: otherwise hand the conversation to a person.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

TEMPLATE = "template"
RETRIEVAL = "retrieval"
CLARIFY = "clarify"
GENERATED = "generated"
HANDOFF = "handoff"
SMALLTALK = "smalltalk"
OPEN = "open"
# Replies that answer with a knowledge-base entry (a rephrased question after one of them means
# the answer probably missed).
ANSWER_SOURCES = (TEMPLATE, RETRIEVAL, GENERATED)

# Why a customer's question goes to the review queue (models.Message.ReviewReason).
REVIEW_OPEN = "open"
REVIEW_HANDED_OVER = "handed_over"
REVIEW_UNCLEAR = "unclear"
REVIEW_LOW_CONFIDENCE = "low_confidence"


@dataclass(frozen=True)
class Hit:
    """A knowledge-base text near the question, resolved to its entry."""

    entry_id: int
    intent: str
    score: float  # cosine similarity
    kind: str = "question"  # "question" (an example question) or "answer" (the entry's answer)


@dataclass(frozen=True)
class RetrievalCalibration:
    """Similarity threshold for answering from retrieval, and P(right intent) for a similarity.

    `points` are (similarity, probability) pairs, increasing, from isotonic regression on the
    knowledge base's own questions (serving.calibrate_retrieval).
    """

    threshold: float
    points: tuple[tuple[float, float], ...] = ()
    precision_target: float = 0.9
    n: int = 0

    def probability(self, score: float) -> float:
        if not self.points:
            return max(0.0, min(1.0, score))
        below = [p for s, p in self.points if s <= score]
        return below[-1] if below else self.points[0][1]


@dataclass(frozen=True)
class Thresholds:
    answer: float = 0.5
    clarify_margin: float = 0.15
    handoff_intents: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    source: str
    intent: str
    confidence: float
    entry_ids: list[int] = field(default_factory=list)
    reason: str = ""
    review: str = ""  # why the question goes to the review queue ("": it does not)


@dataclass(frozen=True)
class Signals:
    """What is known about the message before the intent model is asked."""

    person_request: str = ""  # the words that ask for a person ("" when none)
    smalltalk_kind: str = ""  # "greeting", "thanks"... ("" when the message is not small talk)
    smalltalk_score: float = 0.0
    open_score: float | None = None  # the open-intent detector's score (None: no detector)
    open_threshold: float | None = None  # below it the message is open

    @property
    def is_open(self) -> bool:
        return self.open_score is not None and self.open_threshold is not None and self.open_score < self.open_threshold


def _handoff_entry(handoff_intents: frozenset[str], main_entry: Callable[[str], int | None]) -> tuple[str, int | None]:
    """The intent and entry a requested handoff answers with (the first handoff intent with an entry)."""
    for intent in sorted(handoff_intents):
        entry = main_entry(intent)
        if entry is not None:
            return intent, entry
    return "", None


def decide(*, intents: Sequence[tuple[str, float]], hits: Sequence[Hit], thresholds: Thresholds,
           retrieval: RetrievalCalibration, main_entry: Callable[[str], int | None],
           signals: Signals = Signals()) -> Decision:
    """One reply's decision. `intents`: (intent, calibrated probability), likeliest first, possibly
    empty (no intent model yet); `hits`: best first; `main_entry(intent)`: that intent's default entry;
    `signals`: the person request, small talk and open-intent checks."""
    first, second = (list(intents) + [("", 0.0), ("", 0.0)])[:2]
    intent, p1 = first
    runner_up, p2 = second

    if signals.person_request:
        handoff_intent, entry = _handoff_entry(thresholds.handoff_intents, main_entry)
        return Decision(HANDOFF, handoff_intent, 1.0, [entry] if entry is not None else [],
                        f"the customer asked for a person (“{signals.person_request}”)")
    if signals.smalltalk_kind:
        return Decision(SMALLTALK, signals.smalltalk_kind, signals.smalltalk_score, [],
                        f"small talk: {signals.smalltalk_kind} ({signals.smalltalk_score:.2f})")

    def best_entry(of_intent: str) -> int | None:
        for hit in hits:
            if hit.intent == of_intent:
                return hit.entry_id
        return main_entry(of_intent)

    def low(confidence: float) -> str:
        return REVIEW_LOW_CONFIDENCE if confidence < thresholds.answer else ""

    is_open = signals.is_open
    if not is_open and intent and p1 >= thresholds.answer and p1 - p2 >= thresholds.clarify_margin:
        entry = best_entry(intent)
        if entry is not None:
            if intent in thresholds.handoff_intents:
                return Decision(HANDOFF, intent, p1, [entry], f"the customer asked for {intent} ({p1:.2f})")
            return Decision(TEMPLATE, intent, p1, [entry], f"intent {intent} at {p1:.2f}")

    if hits and hits[0].score >= retrieval.threshold:
        top = hits[0]
        confidence = retrieval.probability(top.score)
        if top.intent in thresholds.handoff_intents:
            return Decision(HANDOFF, top.intent, confidence, [top.entry_id],
                            f"nearest text is {top.intent} ({top.score:.2f}), which goes to a person")
        outside = (f"outside the known intents (score {signals.open_score:.3f} < {signals.open_threshold:.3f}); "
                   if is_open else "")
        return Decision(RETRIEVAL, top.intent, confidence, [top.entry_id],
                        f"{outside}nearest {top.kind} at similarity {top.score:.2f} "
                        f"(threshold {retrieval.threshold:.2f})", review=low(confidence))

    if is_open:
        best_score = hits[0].score if hits else 0.0
        return Decision(OPEN, intent, p1, [],
                        f"outside the known intents (score {signals.open_score:.3f} < {signals.open_threshold:.3f}), "
                        f"nearest text at {best_score:.2f}; nearest intent {intent or 'none'} at {p1:.2f}",
                        review=REVIEW_OPEN)

    if intent and runner_up and p1 + p2 >= thresholds.answer and p1 - p2 < thresholds.clarify_margin:
        options = [best_entry(intent), best_entry(runner_up)]
        if None not in options and options[0] != options[1]:
            return Decision(CLARIFY, intent, p1, [int(e) for e in options],
                            f"{intent} ({p1:.2f}) and {runner_up} ({p2:.2f}) are too close to tell",
                            review=REVIEW_UNCLEAR)

    best_score = hits[0].score if hits else 0.0
    return Decision(HANDOFF, intent, p1, [],
                    f"unsure: intent {intent or 'none'} at {p1:.2f}, nearest text at {best_score:.2f}",
                    review=REVIEW_HANDED_OVER)
