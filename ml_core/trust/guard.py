"""A guard around a generative model: what may go in, and what may come out.

Input (`check_input`): a message is kept away from the generative model when it is
- abusive: the offensive-language classifier of `alt-profanity-check` (a linear SVM on
  character and word n-grams trained on about 200k human-labelled comments; it ships with
  the package) gives it a probability of at least `abuse_threshold`, or it contains one of the
  operator's own blocked terms;
- a prompt-injection attempt: it asks the assistant to ignore or reveal its instructions, to
  take another role, or carries chat-template control tokens (the known phrasings of
  OWASP LLM01 and the published jailbreak collections, as patterns below).
The caller answers such a message without generation (the retrieved knowledge-base answer, or
a person), so a false alarm costs a less fluent reply, never a lost one.

Output (`check_output`): a generated answer is used only when it cites at least one of the
numbered sources it was given ([1], [2]...), cites no source that does not exist, is not
abusive, and does not echo the system prompt. Otherwise the caller drops it for the retrieved
answer.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

ABUSE = "abuse"
INJECTION = "prompt_injection"
UNCITED = "uncited"
BAD_CITATION = "unknown_citation"
EMPTY = "empty"
LEAK = "prompt_leak"

# Prompt-injection phrasings (case-insensitive). Each names the trick it catches.
INJECTION_PATTERNS: tuple[tuple[str, str], ...] = (
    ("ignore instructions", (r"\b(ignore|disregard|forget|override|bypass)\b[^.?!\n]{0,40}\b(previous|prior|above|earlier|"
                            r"all|any|your|the|these|those|system)\b[^.?!\n]{0,30}\b(instructions?|prompts?|rules?|"
                            r"directions?|guidelines?|context|messages?)")),
    ("reveal the prompt", (r"\b(reveal|show|print|repeat|output|display|tell me|give me|what (is|are))\b[^.?!\n]{0,40}"
                          r"\b(system|initial|hidden|original|secret)\s+(prompt|instructions?|message|rules)")),
    ("new role", (r"\b(you are now|from now on,? you (are|will|must|shall)|pretend (to be|you are|you're)|"
                 r"(act|behave|respond|answer) (as if you|as though you|like an? (ai|bot|model)|as an? "
                 r"(ai|assistant|chatbot|bot|language model|unrestricted|unfiltered|evil|different|new))|"
                 r"role-?play as|simulate being)\b")),
    ("jailbreak", (r"\b(jailbreak|jail-break|DAN mode|developer mode|do anything now|no restrictions|unfiltered|"
                  r"uncensored)\b")),
    ("chat-template tokens", (r"(<\|(im_start|im_end|system|user|assistant|endoftext)\|>|\[/?INST\]|<</?SYS>>|"
                             r"^\s*#{2,}\s*(system|instruction)s?\s*:|^\s*(system|assistant)\s*:)")),
    ("new instructions", r"\b(new|updated|real|actual)\s+(instructions?|rules|system prompt)\s*(:|are\b|is\b)"),
)
_CITATION_RE = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class GuardSettings:
    abuse_threshold: float = 0.9
    blocked_terms: tuple[str, ...] = ()  # the operator's own list (whole words, case-insensitive)
    check_abuse: bool = True
    check_injection: bool = True


@dataclass
class Verdict:
    allowed: bool
    reasons: list[str] = field(default_factory=list)  # ABUSE, INJECTION, UNCITED...
    details: list[str] = field(default_factory=list)  # in words, for logs and the console
    abuse_probability: float | None = None
    cited: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"allowed": self.allowed, "reasons": self.reasons, "details": self.details,
                "abuse_probability": self.abuse_probability, "cited": self.cited}


_compiled = [(name, re.compile(pattern, re.IGNORECASE | re.MULTILINE)) for name, pattern in INJECTION_PATTERNS]
_abuse_lock = threading.Lock()
_abuse_model = None


def _abuse_probabilities(texts: Sequence[str]) -> list[float]:
    """P(offensive) per text from alt-profanity-check (loaded once; about 0.2 s)."""
    global _abuse_model
    if _abuse_model is None:
        with _abuse_lock:
            if _abuse_model is None:
                from profanity_check import predict_prob

                _abuse_model = predict_prob
    return [float(p) for p in _abuse_model(list(texts))]


def injection_findings(text: str) -> list[str]:
    """Names of the prompt-injection patterns `text` matches."""
    return [name for name, pattern in _compiled if pattern.search(text)]


def _blocked_terms(text: str, terms: Sequence[str]) -> list[str]:
    lowered = text.lower()
    return [t for t in terms if t.strip() and re.search(rf"(?<!\w){re.escape(t.strip().lower())}(?!\w)", lowered)]


def _abuse(text: str, settings: GuardSettings, verdict: Verdict) -> None:
    if not settings.check_abuse:
        return
    probability = _abuse_probabilities([text])[0]
    verdict.abuse_probability = round(probability, 4)
    terms = _blocked_terms(text, settings.blocked_terms)
    if probability >= settings.abuse_threshold or terms:
        verdict.reasons.append(ABUSE)
        verdict.details.append(f"blocked terms: {', '.join(terms)}" if terms
                               else f"offensive language (p = {probability:.2f})")


def check_input(text: str, settings: GuardSettings = GuardSettings()) -> Verdict:
    """May this message be sent to a generative model?"""
    verdict = Verdict(allowed=True)
    if settings.check_injection:
        found = injection_findings(text or "")
        if found:
            verdict.reasons.append(INJECTION)
            verdict.details.append("prompt injection: " + ", ".join(found))
    if text and text.strip():
        _abuse(text, settings, verdict)
    verdict.allowed = not verdict.reasons
    return verdict


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def check_output(text: str, *, n_sources: int, system_prompt: str = "",
                 settings: GuardSettings = GuardSettings()) -> Verdict:
    """May this generated answer be shown? It must cite one of its `n_sources` numbered sources."""
    verdict = Verdict(allowed=True)
    body = (text or "").strip()
    if not body:
        verdict.reasons.append(EMPTY)
        verdict.details.append("the model wrote nothing")
    cited = sorted({int(n) for n in _CITATION_RE.findall(body)})
    verdict.cited = [n for n in cited if 1 <= n <= n_sources]
    unknown = [n for n in cited if not 1 <= n <= n_sources]
    if body and not verdict.cited:
        verdict.reasons.append(UNCITED)
        verdict.details.append("the answer cites no knowledge-base entry")
    if unknown:
        verdict.reasons.append(BAD_CITATION)
        verdict.details.append(f"cites entries that were not given: {', '.join(map(str, unknown))}")
    if system_prompt and body:
        # Any run of 8 consecutive words of the instructions, repeated verbatim, is a leak.
        words = _normalise(system_prompt).split()
        said = _normalise(body)
        if any(" ".join(words[i:i + 8]) in said for i in range(max(0, len(words) - 7))):
            verdict.reasons.append(LEAK)
            verdict.details.append("the answer repeats the system prompt")
    if body:
        _abuse(body, settings, verdict)
    verdict.allowed = not verdict.reasons
    return verdict
