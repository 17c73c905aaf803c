"""Rule-based perturbations: character noise, keyboard typos, word dropout, swap, insertion,
synonym replacement and EDA (Wei & Zou 2019, "EDA: Easy Data Augmentation Techniques").

Each perturbation is a function `(text, rng, strength) -> text` that changes at least one
thing when it can and never returns an empty text. `strength` is the share of characters
(character noise) or words (the others) touched; EDA's authors recommend 0.1 for small data.
The ones that need synonyms take a `SynonymSource` (ml_core.augmentation.synonyms).
"""
from __future__ import annotations

import math
import random
import string
from collections.abc import Callable
from typing import Protocol

from .text import is_content_word, join_tokens, match_case, split_tokens, token_parts


class SynonymLookup(Protocol):
    def synonyms(self, word: str) -> list[str]: ...


# QWERTY neighbours: the keys a finger slips to (Belinkov & Bisk 2018 use the same idea).
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    # Rows are staggered: key (r, c) touches (r, c±1), (r-1, c), (r-1, c+1), (r+1, c-1), (r+1, c).
    neighbours = {}
    for r, row in enumerate(_ROWS):
        for c, key in enumerate(row):
            near = [(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)]
            neighbours[key] = "".join(_ROWS[rr][cc] for rr, cc in near
                                      if 0 <= rr < len(_ROWS) and 0 <= cc < len(_ROWS[rr]))
    return neighbours


KEYBOARD_NEIGHBOURS = _keyboard_neighbours()


def _edit_count(n: int, strength: float) -> int:
    return max(1, math.ceil(n * strength)) if n else 0


def _word_positions(tokens: list[str], content_only: bool = True) -> list[int]:
    return [i for i, t in enumerate(tokens)
            if (is_content_word(token_parts(t)[1]) if content_only else token_parts(t)[1].isalpha())]


def char_noise(text: str, rng: random.Random, strength: float = 0.05) -> str:
    """Random character insertions, deletions, substitutions and swaps inside words."""
    tokens = split_tokens(text)
    positions = [i for i in _word_positions(tokens, content_only=False) if len(token_parts(tokens[i])[1]) >= 3]
    if not positions:
        return text
    letters = sum(len(token_parts(tokens[i])[1]) for i in positions)
    for _ in range(_edit_count(letters, strength)):
        i = rng.choice(positions)
        prefix, core, suffix = token_parts(tokens[i])
        j = rng.randrange(len(core))
        kind = rng.choice(("insert", "delete", "substitute", "swap"))
        if kind == "insert":
            core = core[:j] + rng.choice(string.ascii_lowercase) + core[j:]
        elif kind == "delete" and len(core) > 2:
            core = core[:j] + core[j + 1:]
        elif kind == "swap" and j < len(core) - 1:
            core = core[:j] + core[j + 1] + core[j] + core[j + 2:]
        else:
            core = core[:j] + rng.choice(string.ascii_lowercase.replace(core[j].lower(), "")) + core[j + 1:]
        tokens[i] = prefix + core + suffix
    return join_tokens(tokens)


def keyboard_typo(text: str, rng: random.Random, strength: float = 0.1) -> str:
    """Replace one letter in a share of the words by a neighbouring key (a slipped finger)."""
    tokens = split_tokens(text)
    positions = [i for i in _word_positions(tokens, content_only=False) if len(token_parts(tokens[i])[1]) >= 2]
    if not positions:
        return text
    for i in rng.sample(positions, min(len(positions), _edit_count(len(positions), strength))):
        prefix, core, suffix = token_parts(tokens[i])
        slots = [j for j, ch in enumerate(core) if ch.lower() in KEYBOARD_NEIGHBOURS]
        if not slots:
            continue
        j = rng.choice(slots)
        typed = rng.choice(KEYBOARD_NEIGHBOURS[core[j].lower()])
        tokens[i] = prefix + core[:j] + (typed.upper() if core[j].isupper() else typed) + core[j + 1:] + suffix
    return join_tokens(tokens)


def word_dropout(text: str, rng: random.Random, strength: float = 0.1) -> str:
    """Delete a share of the words (at least one word always stays)."""
    tokens = split_tokens(text)
    if len(tokens) < 2:
        return text
    drop = set(rng.sample(range(len(tokens)), min(len(tokens) - 1, _edit_count(len(tokens), strength))))
    return join_tokens([t for i, t in enumerate(tokens) if i not in drop])


def word_swap(text: str, rng: random.Random, strength: float = 0.1) -> str:
    """Swap random pairs of words."""
    tokens = split_tokens(text)
    if len(tokens) < 2:
        return text
    for _ in range(_edit_count(len(tokens), strength)):
        a, b = rng.sample(range(len(tokens)), 2)
        tokens[a], tokens[b] = tokens[b], tokens[a]
    return join_tokens(tokens)


def synonym_replacement(text: str, rng: random.Random, strength: float = 0.1, *,
                        synonyms: SynonymLookup) -> str:
    """Replace a share of the content words by one of their synonyms."""
    tokens = split_tokens(text)
    positions = _word_positions(tokens)
    rng.shuffle(positions)
    budget = _edit_count(len(tokens), strength)
    for i in positions:
        if budget == 0:
            break
        prefix, core, suffix = token_parts(tokens[i])
        options = synonyms.synonyms(core.lower())
        if options:
            tokens[i] = prefix + match_case(rng.choice(options), core) + suffix
            budget -= 1
    return join_tokens(tokens)


def word_insertion(text: str, rng: random.Random, strength: float = 0.1, *, synonyms: SynonymLookup) -> str:
    """EDA's random insertion: a synonym of a random content word, put at a random position."""
    tokens = split_tokens(text)
    positions = _word_positions(tokens)
    if not positions:
        return text
    for _ in range(_edit_count(len(tokens), strength)):
        rng.shuffle(positions)
        for i in positions:
            options = synonyms.synonyms(token_parts(tokens[i])[1].lower())
            if options:
                tokens.insert(rng.randrange(len(tokens) + 1), rng.choice(options))
                positions = _word_positions(tokens)
                break
        else:
            break
    return join_tokens(tokens)


def eda(text: str, rng: random.Random, strength: float = 0.1, *, synonyms: SynonymLookup) -> str:
    """One of EDA's four operations, chosen at random: replace, insert, swap or delete words."""
    operation: Callable[..., str] = rng.choice((synonym_replacement, word_insertion, word_swap, word_dropout))
    if operation in (synonym_replacement, word_insertion):
        return operation(text, rng, strength, synonyms=synonyms)
    return operation(text, rng, strength)
