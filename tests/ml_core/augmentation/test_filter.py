"""The filter: augmented texts must keep their label (encoder or model agreement) and be new."""
import zlib

import numpy as np
import pytest

from ml_core.augmentation.filtering import Candidate, filter_candidates
from ml_core.errors import UserError


class KeywordEmbedder:
    """A fixed embedding: one strong dimension per keyword plus a weak bag of words, so the
    test knows which candidates the encoder check must keep (the real encoder: test_plugin)."""

    KEYS = ("card", "refund", "transfer")

    def embed(self, texts, progress=None):
        rows = []
        for text in texts:
            words = text.lower().replace("?", " ").replace(".", " ").split()
            keys = [1.5 * sum(w.startswith(k) for w in words) for k in self.KEYS]
            bag = [0.5 * sum(zlib.crc32(w.encode()) % 16 == i for w in words) for i in range(16)]
            rows.append(keys + bag)
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


ORIGINALS = ["my card is late", "where is my card", "I want a refund", "refund my order",
             "cancel the transfer", "transfer is pending"]
LABELS = ["card", "card", "refund", "refund", "transfer", "transfer"]


def test_encoder_filter_drops_label_changes_and_duplicates():
    candidates = [
        Candidate("has my card arrived yet", "card", "eda", 0),       # keeps its label
        Candidate("I want a refund please", "card", "paraphrase", 1),  # now reads as a refund: dropped
        Candidate("My card is late!", "card", "eda", 0),               # same text up to case/punctuation
        Candidate("refund my whole order now", "refund", "eda", 3),
        Candidate("refund my whole order now", "refund", "paraphrase", 3),  # repeated
        Candidate("", "refund", "eda", 2),
    ]
    result = filter_candidates(ORIGINALS, LABELS, candidates, mode="encoder", embedder=KeywordEmbedder(), seed=0)
    assert [c.text for c in result.kept] == ["has my card arrived yet", "refund my whole order now"]
    summary = result.summary()
    assert summary["generated"] == 6 and summary["kept"] == 2
    assert summary["dropped_label"] == 1 and summary["dropped_duplicate"] == 3
    assert summary["per_op"]["paraphrase"] == {"generated": 2, "kept": 0, "dropped_label": 1, "dropped_duplicate": 1}


def test_near_duplicates_in_embedding_space_are_dropped():
    candidates = [Candidate("where is my card card", "card", "eda", 1)]
    strict = filter_candidates(ORIGINALS, LABELS, candidates, mode="none", embedder=KeywordEmbedder(),
                               duplicate_similarity=0.9)
    loose = filter_candidates(ORIGINALS, LABELS, candidates, mode="none", embedder=KeywordEmbedder(),
                              duplicate_similarity=0.9999)
    assert strict.kept == [] and strict.summary()["dropped_duplicate"] == 1
    assert [c.text for c in loose.kept] == ["where is my card card"]


def test_bad_filter_options_are_clear_errors():
    with pytest.raises(UserError, match="filter must be one of encoder, model, none"):
        filter_candidates(ORIGINALS, LABELS, [], mode="vote")
    with pytest.raises(UserError, match="needs a trained model"):
        filter_candidates(ORIGINALS, LABELS, [], mode="model")
