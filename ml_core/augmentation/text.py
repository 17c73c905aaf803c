"""Word-level helpers shared by the augmenters and the robustness attack.

A text is split on whitespace into tokens; each token is `prefix + core + suffix` where the
core is the word proper and prefix/suffix are punctuation ("card?" -> "", "card", "?"). Edits
change cores only, so punctuation and the rest of the text survive, and joining the tokens
with single spaces gives the text back (with its whitespace normalised).
"""
from __future__ import annotations

import hashlib
import random
import re
from functools import lru_cache

_TOKEN = re.compile(r"^(\W*)(.*?)(\W*)$", re.UNICODE)
_WORD = re.compile(r"^[A-Za-z]+(?:-[A-Za-z]+)?$")


def split_tokens(text: str) -> list[str]:
    return text.split()


def join_tokens(tokens: list[str]) -> str:
    return " ".join(t for t in tokens if t)


def token_parts(token: str) -> tuple[str, str, str]:
    """(prefix, core, suffix): "(card?)" -> ("(", "card", "?)")."""
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2), match.group(3)) if match else ("", token, "")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    # Negations and a few intent-bearing words are not noise: changing them changes the meaning.
    keep = {"not", "no", "nor", "never", "none", "cannot", "up", "down", "off", "over", "under", "against"}
    return frozenset(w for w in ENGLISH_STOP_WORDS if w not in keep)


def is_content_word(core: str) -> bool:
    """A word worth replacing: alphabetic, 3+ letters, not a stop word."""
    return len(core) >= 3 and bool(_WORD.match(core)) and core.lower() not in stopwords()


def match_case(word: str, like: str) -> str:
    """`word` written with the capitalisation of `like` (UPPER, Title or lower)."""
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def stable_rng(*parts: object) -> random.Random:
    """A random generator seeded by its parts: the same text and seed give the same edits,
    whatever order texts come in or which process handles them."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def normalised(text: str) -> str:
    """Text for exact-duplicate checks: lower case, letters and digits only, single spaces."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def vocabulary(texts: list[str], *, min_count: int = 1, max_words: int = 20000) -> list[str]:
    """The content words of `texts` (lower case), most frequent first."""
    counts: dict[str, int] = {}
    for text in texts:
        for token in split_tokens(text):
            core = token_parts(token)[1].lower()
            if is_content_word(core):
                counts[core] = counts.get(core, 0) + 1
    words = [w for w, n in counts.items() if n >= min_count]
    words.sort(key=lambda w: (-counts[w], w))
    return words[:max_words]
