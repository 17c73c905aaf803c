"""Where synonyms come from.

No English lexical database installs from PyPI with its data and works offline (WordNet's
Python readers, nltk and wn, download their data at run time; the PyPI packages that carry
WordNet files carry word lists, not synonym sets). So the default source is the encoder's own
embedding neighbourhood: every content word of a vocabulary built from the data is embedded
on its own, and a word's synonyms are its nearest neighbours above a cosine threshold. This
finds inflections, spelling variants and near-synonyms ("refund" -> "refunds", "reimbursement"),
but, like any distributional method, it can also propose related words of different meaning;
the label filter and the attack's sentence-similarity constraint are there for that.

A lexicon file can be used instead (`LexiconSynonyms`): JSON `{"word": ["synonym", ...]}` or
lines of `word<TAB>synonym<TAB>synonym...`, e.g. exported from WordNet or a domain thesaurus.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ..errors import UserError
from ..progress import ProgressCallback, no_progress
from .text import vocabulary


class SynonymSource(Protocol):
    def synonyms(self, word: str) -> list[str]:
        """Synonyms of a lower-case word (best first); empty when none is known."""


class EncoderSynonyms:
    """Nearest neighbours of words in the encoder's embedding space, over a fixed vocabulary."""

    name = "encoder"

    def __init__(self, words: Sequence[str], embeddings: np.ndarray, *, k: int = 8,
                 min_similarity: float = 0.7) -> None:
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.k = k
        self.min_similarity = min_similarity
        self._neighbours: dict[str, list[tuple[str, float]]] = {}
        self._embeddings = np.asarray(embeddings, dtype=np.float32)
        self._compute_neighbours()

    @classmethod
    def from_texts(cls, texts: Sequence[str], embedder, *, k: int = 8, min_similarity: float = 0.7,
                   max_words: int = 20000, progress: ProgressCallback = no_progress) -> "EncoderSynonyms":
        """Build the vocabulary from `texts` and embed each word with `embedder` (a TextEmbedder)."""
        words = vocabulary(list(texts), max_words=max_words)
        return cls(words, embedder.embed(words, progress=progress), k=k, min_similarity=min_similarity)

    def _compute_neighbours(self) -> None:
        if len(self.words) < 2:
            return
        import faiss

        index = faiss.IndexFlatIP(self._embeddings.shape[1])
        index.add(self._embeddings)
        scores, ids = index.search(self._embeddings, min(self.k + 1, len(self.words)))
        for row, word in enumerate(self.words):
            self._neighbours[word] = [
                (self.words[j], float(s)) for s, j in zip(scores[row], ids[row])
                if j >= 0 and j != row and s >= self.min_similarity and self.words[j] != word
            ][: self.k]

    def synonyms(self, word: str) -> list[str]:
        return [w for w, _ in self._neighbours.get(word.lower(), [])]

    def scored(self, word: str) -> list[tuple[str, float]]:
        return list(self._neighbours.get(word.lower(), []))

    def describe(self) -> dict:
        with_any = sum(1 for v in self._neighbours.values() if v)
        return {"source": self.name, "vocabulary": len(self.words), "words_with_synonyms": with_any,
                "k": self.k, "min_similarity": self.min_similarity}


class LexiconSynonyms:
    """Synonyms from a file: JSON {word: [synonyms]} or TSV lines word<TAB>syn<TAB>syn..."""

    name = "lexicon"

    def __init__(self, table: dict[str, list[str]], source: str = "") -> None:
        self.table = {k.lower(): [s for s in v if s and s.lower() != k.lower()] for k, v in table.items()}
        self.source = source

    @classmethod
    def from_file(cls, path: str | Path) -> "LexiconSynonyms":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"synonym lexicon {path} does not exist")
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            try:
                table = json.loads(text)
            except ValueError as exc:
                raise UserError(f"synonym lexicon {path} is not valid JSON: {exc}") from exc
            if not isinstance(table, dict) or not all(isinstance(v, list) for v in table.values()):
                raise UserError(f"synonym lexicon {path} must map words to lists of synonyms")
        else:
            table = {}
            for number, line in enumerate(text.splitlines(), start=1):
                parts = [p.strip() for p in line.split("\t") if p.strip()]
                if not parts or line.startswith("#"):
                    continue
                if len(parts) < 2:
                    raise UserError(f"{path}, line {number}: expected word<TAB>synonym[<TAB>synonym...]")
                table.setdefault(parts[0], []).extend(parts[1:])
        return cls(table, source=str(path))

    def synonyms(self, word: str) -> list[str]:
        return list(self.table.get(word.lower(), []))

    def describe(self) -> dict:
        return {"source": self.name, "file": self.source, "words_with_synonyms": len(self.table)}


def build_synonym_source(spec: str, texts: Sequence[str], *, embedder_factory, k: int = 8,
                         min_similarity: float = 0.7, progress: ProgressCallback = no_progress):
    """`spec` is "encoder" (neighbourhood over the words of `texts`) or a lexicon file path."""
    if spec == "encoder":
        return EncoderSynonyms.from_texts(texts, embedder_factory(), k=k, min_similarity=min_similarity,
                                          progress=progress)
    return LexiconSynonyms.from_file(spec)
