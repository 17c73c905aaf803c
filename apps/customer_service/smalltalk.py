"""Small talk: greetings, thanks, goodbyes, "are you a bot?", "how are you?".

Plain Python (no Django): the kinds, their built-in answers (admins edit them: models.SmallTalkReply),
built-in example phrases written for this project, and the matcher. A message is small talk when

 1. its normalised form (lower case, no punctuation or emoji, "hellooo" -> "hello") is one of
    the example phrases, or
 2. it is short and its embedding is close to an example phrase's (nearest neighbour, cosine
    similarity >= `threshold`), and closer to it than to any knowledge-base text: "hi, where is
    my order?" is a question about an order, not a greeting.

Small talk is answered with its kind's answer: never handed to a person, never a KB entry.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GREETING = "greeting"
HOW_ARE_YOU = "how_are_you"
THANKS = "thanks"
GOODBYE = "goodbye"
BOT = "bot"
CAPABILITIES = "capabilities"
ACKNOWLEDGEMENT = "acknowledgement"

# kind -> (label, built-in answer). {{Topics}} is filled with the knowledge base's top topics.
KINDS: dict[str, tuple[str, str]] = {
    GREETING: ("Greeting", "Hello! How can I help you today?"),
    HOW_ARE_YOU: ("How are you", "I'm doing well, thank you for asking! What can I help you with today?"),
    THANKS: ("Thanks", "You're welcome! Is there anything else I can help you with?"),
    GOODBYE: ("Goodbye", "Goodbye, and thank you for getting in touch. Come back any time!"),
    BOT: ("Are you a bot?", ("I'm a virtual assistant: a computer program that answers from our help articles. "
                             "If you would rather talk to a person, just say so.")),
    CAPABILITIES: ("What can you do?", ("I can help with {{Topics}}. Ask me a question, or say “talk to a person” "
                                        "at any time.")),
    ACKNOWLEDGEMENT: ("Okay / great", "Glad to hear it! Is there anything else I can help you with?"),
}

# Written for this project: the phrases a customer types, matched exactly after normalisation
# and as nearest neighbours of the message's embedding.
EXAMPLES: dict[str, list[str]] = {
    GREETING: ["hi", "hello", "hey", "hey there", "hi there", "hello there", "hiya", "howdy", "yo", "greetings",
               "good morning", "good afternoon", "good evening", "morning", "hello anyone there",
               "is anyone there", "hi bot", "hello assistant", "hey hey", "hallo", "hei", "sup",
               "hello good morning", "hi all", "heya"],
    HOW_ARE_YOU: ["how are you", "how are you doing", "how's it going", "how do you do", "how are things",
                  "are you well", "how is your day", "how's your day going", "you ok", "how have you been",
                  "what's up", "whats up", "how r u", "hope you are well", "how are you today"],
    THANKS: ["thanks", "thank you", "thank you very much", "thanks a lot", "many thanks", "thx", "ty", "cheers",
             "much appreciated", "thanks for your help", "thank you so much", "great thanks", "ok thanks",
             "thanks that helps", "that was helpful thank you", "appreciate it", "thanks a bunch", "thank u",
             "awesome thank you", "perfect thanks", "brilliant thanks", "thanks mate", "tysm"],
    GOODBYE: ["bye", "goodbye", "bye bye", "see you", "see you later", "see ya", "have a nice day",
              "have a good day", "good night", "talk to you later", "that's all", "that is all thanks",
              "nothing else", "no that's all", "that's everything", "i'm done", "ciao", "farewell",
              "take care", "bye for now", "thats all for today", "cya", "later"],
    BOT: ["are you a bot", "are you a robot", "are you human", "are you a real person", "am i talking to a bot",
          "am i talking to a human", "is this a bot", "is this a real person", "are you an ai", "are you a machine",
          "is this automated", "are you real", "who are you", "what are you", "are you a chatbot",
          "am i chatting with a computer", "is this a person or a bot", "are you a human or a bot", "r u a bot",
          "what is your name", "whats your name"],
    CAPABILITIES: ["what can you do", "what can you help me with", "what do you do", "how can you help",
                   "what can i ask you", "what do you know", "what can you help with", "help me", "what are you for",
                   "what questions can you answer", "what topics can you help with", "what kind of things can you do"],
    ACKNOWLEDGEMENT: ["ok", "okay", "ok cool", "cool", "great", "perfect", "got it", "alright", "fine", "sounds good",
                      "nice", "good", "awesome", "understood", "i see", "makes sense", "right", "sure", "k",
                      "noted", "excellent", "wonderful", "great stuff", "lovely"],
}

# Long messages are questions, however they open ("hi, where is my order?").
MAX_WORDS = 8
# Measured with all-MiniLM-L6-v2: written small-talk paraphrases reach 0.6-0.95 to their nearest
# example; 1,000 Bitext customer questions at most 0.69 (99 % below 0.56), and each of those is
# nearer to its own knowledge-base questions, which the second condition requires.
DEFAULT_THRESHOLD = 0.6
# When every part of "thanks, bye!" is small talk, the answer is for the part that ends the talk.
PRIORITY = (GOODBYE, BOT, CAPABILITIES, HOW_ARE_YOU, THANKS, GREETING, ACKNOWLEDGEMENT)
_PARTS = re.compile(r"[,.!?;:\n]+|\s+(?:and|&)\s+")
_REPEATS = re.compile(r"([a-z])\1{2,}")
_NOT_WORD = re.compile(r"[^\w\s']+")
_FILLERS = re.compile(r"^(?:(?:oh|ah|um|umm|uh|well|so|and|hmm)\s+)+|(?:\s+(?:please|pls|again|then|now|mate|"
                      r"guys|bot|everyone|friend|there))+$")


def normalise_phrase(text: str) -> str:
    """Lower case, no punctuation or emoji, letters typed three times or more once ("hellooo" -> "hello")."""
    text = unicodedata.normalize("NFKC", text or "").lower().replace("’", "'")
    text = _NOT_WORD.sub(" ", text).replace("_", " ")
    text = _REPEATS.sub(r"\1", text)
    text = " ".join(text.split())
    return text


def _without_fillers(text: str) -> str:
    return _FILLERS.sub("", text).strip()


@dataclass(frozen=True)
class SmallTalk:
    kind: str
    score: float  # cosine similarity of the nearest example phrase; 1.0 for an exact phrase
    phrase: str  # the example phrase it matched


class SmallTalkMatcher:
    """Nearest example phrase of a message, by exact phrase or embedding."""

    def __init__(self, phrases: Sequence[tuple[str, str]], vectors: np.ndarray | None,
                 threshold: float = DEFAULT_THRESHOLD, max_words: int = MAX_WORDS) -> None:
        """`phrases`: (kind, phrase); `vectors`: their L2-normalised embeddings, one row each (or None:
        exact phrases only)."""
        self.phrases = [(kind, normalise_phrase(text)) for kind, text in phrases]
        self.exact = {}
        for kind, text in self.phrases:
            self.exact.setdefault(text, kind)
            self.exact.setdefault(_without_fillers(text), kind)
        self.vectors = None if vectors is None else np.asarray(vectors, dtype=np.float32)
        self.threshold = threshold
        self.max_words = max_words

    def _exact(self, norm: str) -> str | None:
        for candidate in (norm, _without_fillers(norm)):
            if candidate in self.exact:
                return self.exact[candidate]
        return None

    def exact_match(self, text: str) -> SmallTalk | None:
        """An example phrase after normalisation, or parts that all are ("Great, thanks a lot!")."""
        norm = normalise_phrase(text)
        kind = self._exact(norm)
        if kind is not None:
            return SmallTalk(kind, 1.0, norm)
        parts = [normalise_phrase(p) for p in _PARTS.split(unicodedata.normalize("NFKC", text or "").lower())]
        parts = [p for p in parts if p]
        if len(parts) < 2:
            return None
        kinds = [self._exact(p) for p in parts]
        if None in kinds:
            return None
        kind = min(kinds, key=PRIORITY.index)
        return SmallTalk(kind, 1.0, norm)

    def match(self, text: str, embedding: np.ndarray | None = None, best_kb_score: float = 0.0,
              threshold: float | None = None) -> SmallTalk | None:
        """The small talk `text` is, or None. `embedding`: its L2-normalised embedding; `best_kb_score`:
        the similarity of the nearest knowledge-base text (small talk must be nearer than that);
        `threshold`: instead of the matcher's own."""
        found = self.exact_match(text)
        if found is not None:
            return found
        norm = normalise_phrase(text)
        if embedding is None or self.vectors is None or not len(self.vectors) or not norm \
                or len(norm.split()) > self.max_words:
            return None
        scores = self.vectors @ np.asarray(embedding, dtype=np.float32).reshape(-1)
        best = int(np.argmax(scores))
        score = float(scores[best])
        if score < (self.threshold if threshold is None else threshold) or score <= best_kb_score:
            return None
        kind, phrase = self.phrases[best]
        return SmallTalk(kind, score, phrase)


def example_phrases(extra: dict[str, Sequence[str]] | None = None) -> list[tuple[str, str]]:
    """(kind, phrase) for every built-in example and every extra one (an admin's), deduplicated."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for source in (EXAMPLES, extra or {}):
        for kind, phrases in source.items():
            for phrase in phrases:
                norm = normalise_phrase(phrase)
                if norm and norm not in seen and kind in KINDS:
                    seen.add(norm)
                    pairs.append((kind, norm))
    return pairs
