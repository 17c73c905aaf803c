"""The answering cascade: decide how to reply from the intent probabilities and the retrieval hits.

Plain Python (no Django, no models), so every branch can be tested with controlled inputs:

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

from dataclasses import dataclass, field
from typing import Callable, Sequence

TEMPLATE = "template"
RETRIEVAL = "retrieval"
CLARIFY = "clarify"
GENERATED = "generated"
HANDOFF = "handoff"


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


def decide(*, intents: Sequence[tuple[str, float]], hits: Sequence[Hit], thresholds: Thresholds,
           retrieval: RetrievalCalibration, main_entry: Callable[[str], int | None]) -> Decision:
    """One reply's decision. `intents`: (intent, calibrated probability), likeliest first, possibly
    empty (no intent model yet); `hits`: best first; `main_entry(intent)`: that intent's default entry."""
    first, second = (list(intents) + [("", 0.0), ("", 0.0)])[:2]
    intent, p1 = first
    runner_up, p2 = second

    def best_entry(of_intent: str) -> int | None:
        for hit in hits:
            if hit.intent == of_intent:
                return hit.entry_id
        return main_entry(of_intent)

    if intent and p1 >= thresholds.answer and p1 - p2 >= thresholds.clarify_margin:
        entry = best_entry(intent)
        if entry is not None:
            if intent in thresholds.handoff_intents:
                return Decision(HANDOFF, intent, p1, [entry], f"the customer asked for {intent} ({p1:.2f})")
            return Decision(TEMPLATE, intent, p1, [entry], f"intent {intent} at {p1:.2f}")

    if hits and hits[0].score >= retrieval.threshold:
        top = hits[0]
        if top.intent in thresholds.handoff_intents:
            return Decision(HANDOFF, top.intent, retrieval.probability(top.score), [top.entry_id],
                            f"nearest text is {top.intent} ({top.score:.2f}), which goes to a person")
        return Decision(RETRIEVAL, top.intent, retrieval.probability(top.score), [top.entry_id],
                        f"nearest {top.kind} at similarity {top.score:.2f} (threshold {retrieval.threshold:.2f})")

    if intent and runner_up and p1 + p2 >= thresholds.answer and p1 - p2 < thresholds.clarify_margin:
        options = [best_entry(intent), best_entry(runner_up)]
        if None not in options and options[0] != options[1]:
            return Decision(CLARIFY, intent, p1, [int(e) for e in options],
                            f"{intent} ({p1:.2f}) and {runner_up} ({p2:.2f}) are too close to tell")

    best_score = hits[0].score if hits else 0.0
    return Decision(HANDOFF, intent, p1, [],
                    f"unsure: intent {intent or 'none'} at {p1:.2f}, nearest text at {best_score:.2f}")
