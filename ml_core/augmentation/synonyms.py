"""Where synonyms come from.

- "encoder" (the default): the encoder's own embedding neighbourhood. Every content word of a
  vocabulary built from the data is embedded on its own, and a word's synonyms are its nearest
  neighbours above a cosine threshold. It needs nothing installed and finds inflections,
  spelling variants and near-synonyms ("refund" -> "refunds", "reimbursement"), but, like any
  distributional method, it also proposes related words of other meaning ("reactivate" ->
  "deactivate"); the label filter and the attack's sentence-similarity constraint are there for that.
- "wordnet" or a WordNet database folder: Princeton WordNet 3.0's own files (index.* and data.*),
  as Debian's package wordnet-base installs them under /usr/share/wordnet (or where the
  environment variable WNSEARCHDIR points). A word's synonyms are the other words of its most
  frequent sense(s); there is no word-sense disambiguation, so fewer senses means fewer but
  safer synonyms. nltk and wn read the same data but download it at run time.
- a lexicon file (`LexiconSynonyms`): JSON `{"word": ["synonym", ...]}` or lines of
  `word<TAB>synonym<TAB>synonym...`, e.g. a domain thesaurus.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

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
                   max_words: int = 20000, progress: ProgressCallback = no_progress) -> EncoderSynonyms:
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

    def __init__(self, table: dict[str, list[str]], source: str = "", name: str = "lexicon") -> None:
        self.name = name
        self.table = {k.lower(): [s for s in v if s and s.lower() != k.lower()] for k, v in table.items()}
        self.source = source

    @classmethod
    def from_file(cls, path: str | Path) -> LexiconSynonyms:
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


WORDNET_POS = ("noun", "verb", "adj", "adv")
WORDNET_DEFAULT_DIRS = ("/usr/share/wordnet",)  # Debian's and Ubuntu's wordnet-base


def is_wordnet_folder(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and all((path / f"{kind}.{pos}").is_file() for kind in ("index", "data")
                                 for pos in WORDNET_POS)


def find_wordnet() -> Path:
    """The WordNet database folder: $WNSEARCHDIR, else the system's (apt-get install wordnet-base)."""
    candidates = [os.environ["WNSEARCHDIR"]] if os.environ.get("WNSEARCHDIR") else []
    candidates += list(WORDNET_DEFAULT_DIRS)
    for folder in candidates:
        if is_wordnet_folder(folder):
            return Path(folder)
    raise UserError(f"WordNet's database is not installed (looked in {', '.join(candidates)}): "
                    "apt-get install wordnet-base, or set WNSEARCHDIR to a folder with index.noun, data.noun...")


def wordnet_table(folder: str | Path, *, max_senses: int = 1) -> dict[str, list[str]]:
    """{word: synonyms} from a WordNet database: the other one-word lemmas of each word's first
    `max_senses` senses per part of speech (index files list senses most frequent first)."""
    folder = Path(folder)
    if not is_wordnet_folder(folder):
        raise UserError(f"{folder} is not a WordNet database folder (it needs index.noun, data.noun, "
                        f"index.verb, data.verb, index.adj, data.adj, index.adv and data.adv)")
    table: dict[str, list[str]] = {}
    for pos in WORDNET_POS:
        synsets: dict[str, list[str]] = {}
        for number, line in _wordnet_lines(folder / f"data.{pos}"):
            fields = line.split()
            try:  # offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id ...] ...
                count = int(fields[3], 16)
                # Adjective lemmas may carry a marker such as "(a)"; multi-word lemmas are skipped.
                synsets[fields[0]] = [fields[4 + 2 * i].split("(")[0].lower() for i in range(count)]
            except (IndexError, ValueError) as exc:
                raise UserError(f"{folder / f'data.{pos}'}, line {number}: not a WordNet data line") from exc
        for number, line in _wordnet_lines(folder / f"index.{pos}"):
            fields = line.split()
            try:  # lemma pos synset_cnt p_cnt [ptr ...] sense_cnt tagsense_cnt offset [offset ...]
                lemma, pointers = fields[0], int(fields[3])
                offsets = fields[6 + pointers:]
            except (IndexError, ValueError) as exc:
                raise UserError(f"{folder / f'index.{pos}'}, line {number}: not a WordNet index line") from exc
            if "_" in lemma:
                continue
            synonyms = table.setdefault(lemma, [])
            for offset in offsets[:max_senses]:
                for word in synsets.get(offset, ()):
                    if word != lemma and word.isalpha() and word not in synonyms:
                        synonyms.append(word)
    return {word: synonyms for word, synonyms in table.items() if synonyms}


def _wordnet_lines(path: Path):
    """(line number, line) of the entries: the licence header's lines start with two spaces."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip() and not line.startswith("  "):
                yield number, line


def load_lexicon(spec: str, *, max_senses: int = 1) -> LexiconSynonyms:
    """A lexicon from "wordnet" (the installed WordNet), a WordNet database folder or a file."""
    if spec == "wordnet" or is_wordnet_folder(spec):
        folder = find_wordnet() if spec == "wordnet" else Path(spec)
        return LexiconSynonyms(wordnet_table(folder, max_senses=max_senses), source=f"WordNet at {folder}",
                               name="wordnet")
    return LexiconSynonyms.from_file(spec)


def build_synonym_source(spec: str, texts: Sequence[str], *, embedder_factory, k: int = 8,
                         min_similarity: float = 0.7, progress: ProgressCallback = no_progress):
    """`spec` is "encoder" (neighbourhood over the words of `texts`), "wordnet", a WordNet database
    folder or a lexicon file path."""
    if spec == "encoder":
        return EncoderSynonyms.from_texts(texts, embedder_factory(), k=k, min_similarity=min_similarity,
                                          progress=progress)
    return load_lexicon(spec)
