"""Does a customer's message ask for a person, anywhere in it?

Plain Python (no Django, no model), so that "I need a person please" wins over whatever intent
the rest of the message is likelier to be: a sentence can be about a damaged parcel *and* ask
for a human, and the classifier only sees the likeliest of the two.

A request is a request verb phrase aimed at a word for a person, within one clause:
"talk to a real agent", "connect me with someone", "get me a human", "I need a person",
"is there a human I can talk to", "human please". Not requests: the same words in other senses
("personal details", "human resources department", "the agent said..."), past tense ("I spoke
to an agent yesterday"), negations ("I don't want to talk to a person"), and questions about the
assistant itself ("am I talking to a human?", which small talk answers).
"""
from __future__ import annotations

import re
import unicodedata

# Words for a person who could take over. "someone" and "anyone" count only after talk/speak or
# "get me"/"connect me" (a bare "I need someone to sign" is not a request for a person).
_PERSON = (r"(?:human(?:\s+beings?)?|person|agent|representative|rep|operator|advis[eo]r|supervisor|manager|"
           r"staff(?:\s+member)?|member\s+of\s+(?:staff|(?:the|your)\s+(?:support\s+)?team)|employee|"
           r"colleague|team\s+member|humans|people)")
_ANYONE = r"(?:someone|somebody|anyone|anybody|some\s+one)"
_DET = r"(?:(?:a|an|the|one\s+of\s+your|your|some|one|any)\s+)?"
# Adjectives and nouns that may stand between the determiner and the person word.
_ADJ = (r"(?:(?:real|live|actual|proper|human|flesh\s+and\s+blood|customer|support|service|sales|care|"
        r"helpdesk|help\s+desk|call\s+(?:centre|center)|phone|senior|qualified|bloody|damn|[a-z]+-?person)\s+){0,3}")
_WHO = rf"(?:{_DET}{_ADJ}{_PERSON}\b|{_ANYONE}\b)"
_WHO_STRICT = rf"(?:{_DET}{_ADJ}{_PERSON}\b)"
# After talk / speak / contact, "an assistant" is a person too ("speak with an assistant").
_WHO_TALK = rf"(?:{_DET}{_ADJ}(?:{_PERSON}|assistant)\b|{_ANYONE}\b)"
_CONTINUE = r"(?!\s+(?:resources|rights|error|nature|race|body|trafficking|being\s+error))"

_PATTERNS = [
    # talk / speak / chat to or with someone: "can I talk to a real agent", "speak with someone from support"
    re.compile(rf"\b(?:talk|speak|chat|converse|talking|speaking|chatting)\s+(?:\w+\s+){{0,2}}?(?:to|with)\s+"
               rf"{_WHO_TALK}{_CONTINUE}"),
    re.compile(rf"\b(?:contact|contacting|reach|reaching)\s+{_WHO_TALK}{_CONTINUE}"),
    # connect / transfer / put through / escalate me (this) to a person
    re.compile(rf"\b(?:connect|transfer|put|pass|escalate|route|switch)(?:r?ed|r?ing)?\s+"
               rf"(?:me|us|this|it|my\s+(?:call|chat|case|query|request|question|complaint|conversation))\s+"
               rf"(?:through\s+|over\s+|on\s+)?(?:to|with)\s+{_WHO}{_CONTINUE}"),
    re.compile(rf"\b(?:connect|transfer|put\s+through|escalate|pass\s+over|switch)(?:r?ed|r?ing)?\s+"
               rf"(?:to|with)\s+{_WHO_STRICT}{_CONTINUE}"),
    re.compile(r"\b(?:connect|transfer|escalate)\s+(?:me|us)(?:\s+(?:please|now|pls|plz))*$"),
    # get / give / find me a person
    re.compile(rf"\b(?:get|give|find|bring|fetch|send)\s+(?:me|us)\s+{_WHO}{_CONTINUE}"),
    # I want / need / would like / can I have / is there a person
    re.compile(rf"\b(?:want|need|like|prefer|request|requesting|demand|have|get|reach|contact|call|ask\s+for|"
               rf"asking\s+for|is\s+there|are\s+there|where\s+is|where\s+are|looking\s+for)\s+{_WHO_STRICT}{_CONTINUE}"
               r"(?!\s+to\s+(?:sign|be|receive|collect|pick|accept|deliver|open|pay|approve|confirm)\b)"
               r"(?!'s\b)"),
    # someone I can talk to / a person I could speak with
    re.compile(rf"{_WHO}\s+(?:i|we)\s+(?:can|could|may|might)\s+(?:talk|speak|chat)\b"),
    # can a human help me / have an agent call me / get someone to call me back
    re.compile(rf"\b(?:can|could|would|will|may)\s+{_WHO_STRICT}\s+(?:please\s+)?(?:help|look|check|assist|"
               r"answer|deal|sort|handle)\b"),
    re.compile(rf"\b(?:can|could|would|will|may)\s+{_WHO}(?:\s+from\s+(?:your|the)\s+\w+(?:\s+\w+)?)?\s+"
               r"(?:please\s+)?(?:call|contact|phone|ring|email|get\s+back)\b"),
    re.compile(rf"\b(?:get|have|let|need|want)\s+{_WHO}\s+(?:to\s+)?(?:call|contact|phone|ring|email|get\s+back|"
               r"look\s+(?:at|into)|help\s+me|check\s+(?:on|this|my))\b"),
    re.compile(rf"\bhelp\s+(?:from|of)\s+{_WHO_STRICT}{_CONTINUE}"),
    # "human please", "agent!", "real person now", "operator"
    re.compile(rf"^(?:(?:i\s+)?(?:want|need)\s+)?{_DET}{_ADJ}(?:human|person|agent|representative|operator|"
               r"human\s+agent|live\s+agent|real\s+person)(?:\s+(?:please|pls|plz|now|asap|thanks|thank\s+you))*$"),
    re.compile(r"\b(?:human|person|agent|representative|operator)\s+(?:please|pls|plz|now)\b"),
    re.compile(r"\bnot\s+(?:a|an|the|this)\s+(?:bot|robot|machine|chatbot|ai)\b.{0,30}\b(?:human|person|agent|"
               r"someone|somebody|people)\b"),
    re.compile(r"\b(?:human|person|agent|someone|somebody)\b.{0,30}\bnot\s+(?:a|an|the|this|your)\s+(?:bot|robot|"
               r"machine|chatbot|ai|assistant)\b"),
]
# A clause that asks about the assistant ("am I talking to a human?") is small talk, not a request.
_ABOUT_THE_BOT = re.compile(r"^(?:so\s+|hey\s+|wait\s+|ok\s+)?(?:am\s+i|are\s+we|is\s+this|is\s+it|was\s+i|"
                            r"have\s+i\s+been|are\s+you|r\s+u|who\s+am\s+i)\b")
# Just before the request: "I don't want to talk to a person", "do I need to speak to an agent to...?"
_NEGATION = re.compile(r"\b(?:(?:don'?t|do\s+not|doesn'?t|does\s+not|didn'?t|never|won'?t|wouldn'?t|rather\s+not|not)"
                       r"\s+(?:really\s+)?(?:want|need|wish|like|have|going)|no\s+need|without|no\s+longer|"
                       r"do\s+i\s+(?:need|have)\s+to|must\s+i|should\s+i)\b")
_CLAUSES = re.compile(r"[.;!?\n]+|,\s*(?=but\b|and\s+i\b|so\b|i\b)|\bbut\b|\bhowever\b")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = text.replace("’", "'").replace("‘", "'")
    text = re.sub(r"[\"“”()\[\]{}*_~]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def person_request_phrase(text: str) -> str:
    """The words that ask for a person ("" when the message does not ask for one)."""
    for clause in _CLAUSES.split(_normalise(text)):
        clause = clause.strip(" ,-:")
        if not clause:
            continue
        for pattern in _PATTERNS:
            match = pattern.search(clause)
            if match is None:
                continue
            before = clause[:match.start()]
            if _NEGATION.search(" ".join(before.split()[-5:])):
                continue
            if _ABOUT_THE_BOT.match(clause) and not re.search(r"\b(?:can|could|please|want|need|like|possible)\b", before):
                continue
            return match.group(0).strip()
    return ""


def asks_for_person(text: str) -> bool:
    return bool(person_request_phrase(text))
