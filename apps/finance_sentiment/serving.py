"""What scores a document, loaded once per process and refreshed when its source changes.

- Sentiment: the active version of "finance_sentiment.sentiment" (a fine-tuned classifier served
  by ml_core.serving.ClassifierPredictor; FINANCE_SENTIMENT_BACKEND picks its backend, so an
  int8 ONNX backend slots in without touching this code). One encoder pass per document.
- Topics: the shared sentence encoder (on FINANCE_TOPIC_ENCODER's runtime: torch, onnx or
  onnx-int8) embeds each document once; the embedding is compared with the operators' topics
  (their name, keywords and example sentences), and, when an active "finance_sentiment.topics"
  classifier exists, its head is applied to the same embedding (a second pass only if that
  classifier was trained on another encoder or fine-tuned).
- Tickers: the watchlist compiled into a few regular expressions.

The two passes run side by side (`ScoringModels.sentiment_and_topics`), each on half the cores:
ONNX Runtime and PyTorch release the GIL while they compute, and two single-threaded passes
use two cores better than one pass after the other on two threads each (small batches of short
texts leave threads waiting for each other).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from apps.core.models import ModelVersion
from apps.core.services.registry import ActiveModelCache
from ml_core.serving import SharedEmbeddingClassifier

from .models import SENTIMENT_LABELS, Ticker, Topic
from .scenario import SENTIMENT_SCENARIO, TOPIC_SCENARIO

log = logging.getLogger(__name__)

# The label of documents an operator marked "none of the topics" (topic classifier training).
NO_TOPIC_LABEL = "_none"
KEYWORD_BONUS = 0.10
MAX_TOPICS_PER_DOCUMENT = 3
CLASSIFIER_MIN_CONFIDENCE = 0.5
TOPIC_ENCODER_SETTING = "FINANCE_TOPIC_ENCODER"
# Texts per model call. A chunk is sorted by length first, so small batches pad little; on the
# 2-core CPU, 16 scored PhraseBank sentences 1.36x faster than 64 with the int8 model (bench/README).
SCORING_BATCH = 16


class ScoringUnavailable(Exception):
    """Nothing can score documents yet (no active sentiment model); the message says what to do."""


def model_text(title: str, text: str) -> str:
    """What the models read: the title (when it adds something) and the text."""
    title = (title or "").strip()
    if title and not text.startswith(title):
        return f"{title}\n{text}"
    return text


# --- sentiment -----------------------------------------------------------------------------------
@dataclass
class SentimentModel:
    predictor: Any  # ml_core.serving.ClassifierPredictor
    columns: list[int]  # predictor columns of negative, neutral, positive

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 3) calibrated probabilities in SENTIMENT_LABELS order."""
        return self.predictor.predict_proba(list(texts))[:, self.columns]


def pass_threads() -> int:
    """ONNX Runtime threads of each model pass: half the serving threads, as the two passes run at once."""
    from ml_core.serving import serving_threads

    return max(1, serving_threads() // 2)


def _device() -> str:
    from ml_core.backbone import select_device

    return select_device(settings.ML_DEVICE, settings.ML_CPU_THREADS).device


def load_sentiment_model(folder: Path, version: ModelVersion | None = None) -> SentimentModel:
    from ml_core.serving import ClassifierPredictor

    options = {"backend": settings.FINANCE_SENTIMENT_BACKEND} if settings.FINANCE_SENTIMENT_BACKEND else {}
    predictor = ClassifierPredictor.load(folder, device=_device(), batch_size=SCORING_BATCH, threads=pass_threads(),
                                         **options)
    missing = [label for label in SENTIMENT_LABELS if label not in predictor.labels]
    if missing:
        raise ValueError(f"the model predicts {', '.join(predictor.labels)}; a finance sentiment model must predict "
                         f"{', '.join(SENTIMENT_LABELS)} (give a label map when uploading the training set)")
    return SentimentModel(predictor, [predictor.labels.index(label) for label in SENTIMENT_LABELS])


sentiment_cache: ActiveModelCache[SentimentModel] = ActiveModelCache(SENTIMENT_SCENARIO, load_sentiment_model)


# --- topics --------------------------------------------------------------------------------------
def embed(texts: Sequence[str]) -> np.ndarray:
    """Raw sentence embeddings from the shared encoder on FINANCE_TOPIC_ENCODER's runtime (not
    normalised; callers normalise)."""
    from apps.core.services.encoders import embed as shared_embed

    return shared_embed(TOPIC_ENCODER_SETTING, texts, batch_size=SCORING_BATCH, threads=pass_threads())


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@dataclass
class TopicAssignment:
    topic_id: int
    similarity: float
    method: str  # embedding | keyword | classifier
    is_primary: bool = False


@dataclass
class TopicSpec:
    id: int
    slug: str
    threshold: float
    keywords: list[str]
    prototypes: list[str]


class TopicMatcher:
    """Cosine similarity to each topic's prototypes (name, keywords, examples); keywords add weight."""

    def __init__(self, topics: list[TopicSpec]) -> None:
        self.topics = topics
        texts, owners = [], []
        for position, topic in enumerate(topics):
            for prototype in topic.prototypes:
                texts.append(prototype)
                owners.append(position)
        self.owners = np.asarray(owners, dtype=np.int64)
        self.prototypes = _normalise(embed(texts)) if texts else np.zeros((0, 0), dtype=np.float32)
        self.keyword_patterns = [
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(k) for k in sorted(t.keywords, key=len, reverse=True))
                       + r")(?!\w)", re.IGNORECASE) if t.keywords else None
            for t in topics
        ]

    def similarities(self, texts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """(n documents, n topics): best prototype cosine, plus the keyword bonus."""
        n = len(texts)
        scores = np.zeros((n, len(self.topics)), dtype=np.float32)
        if not self.topics or not len(self.prototypes):
            return scores
        cosine = _normalise(embeddings) @ self.prototypes.T  # (n, prototypes)
        scores[:] = -1.0
        for column, owner in enumerate(self.owners):
            np.maximum(scores[:, owner], cosine[:, column], out=scores[:, owner])
        for position, pattern in enumerate(self.keyword_patterns):
            if pattern is None:
                continue
            for row, text in enumerate(texts):
                if pattern.search(text):
                    scores[row, position] += KEYWORD_BONUS
        return scores

    def assign(self, texts: Sequence[str], embeddings: np.ndarray,
               classifier_probs: tuple[list[str], np.ndarray] | None = None) -> list[list[TopicAssignment]]:
        scores = self.similarities(texts, embeddings)
        by_slug = {t.slug: i for i, t in enumerate(self.topics)}
        out: list[list[TopicAssignment]] = []
        for row in range(len(texts)):
            chosen: dict[int, TopicAssignment] = {}
            order = np.argsort(-scores[row], kind="stable")
            for position in order[:MAX_TOPICS_PER_DOCUMENT]:
                topic = self.topics[position]
                value = float(scores[row, position])
                if value >= topic.threshold:
                    keyword = self.keyword_patterns[position] is not None and \
                        self.keyword_patterns[position].search(texts[row]) is not None
                    chosen[position] = TopicAssignment(topic.id, round(min(value, 1.0), 4),
                                                       "keyword" if keyword else "embedding")
            primary = next(iter(chosen), None)
            if classifier_probs is not None:
                labels, probs = classifier_probs
                best = int(np.argmax(probs[row]))
                label, confidence = labels[best], float(probs[row, best])
                if confidence >= CLASSIFIER_MIN_CONFIDENCE:
                    if label == NO_TOPIC_LABEL:
                        chosen, primary = {}, None
                    elif label in by_slug:
                        position = by_slug[label]
                        chosen[position] = TopicAssignment(self.topics[position].id, round(confidence, 4),
                                                           "classifier")
                        primary = position
            if primary is not None:
                chosen[primary].is_primary = True
            out.append(list(chosen.values()))
        return out


def _topic_specs() -> list[TopicSpec]:
    return [
        TopicSpec(t.pk, t.slug, t.threshold, [k for k in t.keywords if k.strip()],
                  list(dict.fromkeys([t.name, *(t.description and [t.description] or []), *t.keywords, *t.examples])))
        for t in Topic.objects.filter(is_active=True).order_by("pk")
    ]


class _Refreshing:
    """A value rebuilt when a cheap database fingerprint changes (checked at most every few seconds)."""

    def __init__(self, fingerprint, build, check_interval_s: float = 2.0) -> None:
        self._fingerprint_fn = fingerprint
        self._build = build
        self._check_interval_s = check_interval_s
        self._value = None
        self._fingerprint: Any = object()
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if time.monotonic() - self._checked_at >= self._check_interval_s:
                current = self._fingerprint_fn()
                if current != self._fingerprint:
                    self._value = self._build()
                    self._fingerprint = current
                self._checked_at = time.monotonic()
            return self._value

    def invalidate(self) -> None:
        with self._lock:
            self._checked_at = 0.0
            self._fingerprint = object()


def _topics_fingerprint():
    from apps.core.services.encoders import encoder_choice

    return (settings.ML_BACKBONE, encoder_choice(TOPIC_ENCODER_SETTING),
            tuple(Topic.objects.aggregate(n=Count("pk"), last=Max("updated_at")).values()))


topic_matcher = _Refreshing(_topics_fingerprint, lambda: TopicMatcher(_topic_specs()))


# An active topic classifier: its head applied to the shared embedding when it was trained on it
# (same backbone and pooling), else its full predictor (ml_core.serving.SharedEmbeddingClassifier).
TopicClassifier = SharedEmbeddingClassifier


def load_topic_classifier(folder: Path, version: ModelVersion | None = None) -> TopicClassifier:
    from ml_core.serving import load_shared_embedding_classifier

    return load_shared_embedding_classifier(folder, shared_backbone=settings.ML_BACKBONE, device=_device())


topic_classifier_cache: ActiveModelCache[TopicClassifier] = ActiveModelCache(TOPIC_SCENARIO, load_topic_classifier)


# --- tickers -------------------------------------------------------------------------------------
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9.\-]{0,11})(?![\w])")
_EXCHANGE = re.compile(r"\b(?:NYSE|NASDAQ|Nasdaq|AMEX|LSE|HEL|OMX|TSX|ASX|XETRA|FRA|EPA|BIT)\s*:\s*"
                       r"([A-Z0-9][A-Z0-9.\-]{0,11})(?![\w])")


@dataclass
class TickerMatcher:
    by_symbol: dict[str, int] = field(default_factory=dict)
    phrase_pattern: re.Pattern | None = None
    phrase_owner: dict[str, int] = field(default_factory=dict)
    symbol_pattern: re.Pattern | None = None

    @classmethod
    def build(cls, tickers: list[tuple[int, str, str, list[str], bool]]) -> TickerMatcher:
        matcher = cls()
        bare = []
        for pk, symbol, name, aliases, match_symbol in tickers:
            matcher.by_symbol[symbol.upper()] = pk
            for phrase in [name, *aliases]:
                phrase = (phrase or "").strip()
                if len(phrase) >= 2:
                    matcher.phrase_owner[phrase.casefold()] = pk
            if match_symbol and len(symbol) >= 2:
                bare.append(symbol)
        if matcher.phrase_owner:
            alternatives = "|".join(re.escape(p) for p in sorted(matcher.phrase_owner, key=len, reverse=True))
            matcher.phrase_pattern = re.compile(r"(?<!\w)(" + alternatives + r")(?!\w)", re.IGNORECASE)
        if bare:
            alternatives = "|".join(re.escape(s) for s in sorted(bare, key=len, reverse=True))
            matcher.symbol_pattern = re.compile(r"(?<![\w$])(" + alternatives + r")(?![\w])")
        return matcher

    def find(self, text: str) -> set[int]:
        found: set[int] = set()
        for symbol in _CASHTAG.findall(text) + _EXCHANGE.findall(text):
            pk = self.by_symbol.get(symbol.upper())
            if pk:
                found.add(pk)
        if self.symbol_pattern is not None:
            found.update(self.by_symbol[s.upper()] for s in self.symbol_pattern.findall(text))
        if self.phrase_pattern is not None:
            found.update(self.phrase_owner[p.casefold()] for p in self.phrase_pattern.findall(text)
                         if p.casefold() in self.phrase_owner)
        return found


def _tickers_fingerprint():
    return tuple(Ticker.objects.filter(on_watchlist=True).aggregate(n=Count("pk"), last=Max("updated_at")).values())


ticker_matcher = _Refreshing(_tickers_fingerprint, lambda: TickerMatcher.build([
    (t.pk, t.symbol, t.name, list(t.aliases), t.match_symbol) for t in Ticker.objects.filter(on_watchlist=True)
]))


# --- all together --------------------------------------------------------------------------------
@dataclass
class ScoringModels:
    sentiment: SentimentModel
    sentiment_version_id: int
    topics: TopicMatcher
    topic_classifier: TopicClassifier | None
    tickers: TickerMatcher

    def assign_topics(self, texts: Sequence[str]) -> list[list[TopicAssignment]]:
        """Topics of each text: one shared-encoder pass (none when no topic is defined)."""
        if not self.topics.topics and self.topic_classifier is None:
            return [[] for _ in texts]
        embeddings = embed(texts)
        classifier = None
        if self.topic_classifier is not None:
            classifier = (self.topic_classifier.labels, self.topic_classifier.probabilities(texts, embeddings))
        return self.topics.assign(texts, embeddings, classifier)

    def sentiment_and_topics(self, texts: Sequence[str]) -> tuple[np.ndarray, list[list[TopicAssignment]]]:
        """Both passes at once: the topics on a second thread while this one scores sentiment
        (1.13x the documents/s of one pass after the other on the 2-core CPU: bench/finance_passes.py)."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="topic-pass") as pool:
            topics = pool.submit(self.assign_topics, texts)
            probabilities = self.sentiment.probabilities(texts)
            return probabilities, topics.result()


def scoring_models(*, fresh: bool = False) -> ScoringModels:
    """What scores documents now; `fresh` reads the active versions and topics from the database
    right away (rescoring must use what was just activated or edited, not what was cached a
    second ago)."""
    if fresh:
        sentiment_cache.invalidate()
        topic_classifier_cache.invalidate()
        topic_matcher.invalidate()
        ticker_matcher.invalidate()
    loaded = sentiment_cache.get()
    if loaded is None:
        problem = sentiment_cache.last_error or (
            "there is no active finance sentiment model: an admin uploads a labelled set (e.g. the Financial "
            "PhraseBank) and retrains on the Finance sentiment › Models page, or activates a version")
        raise ScoringUnavailable(problem)
    classifier = topic_classifier_cache.get()
    return ScoringModels(sentiment=loaded.model, sentiment_version_id=loaded.version_id, topics=topic_matcher.get(),
                         topic_classifier=classifier.model if classifier else None, tickers=ticker_matcher.get())


def reset_caches() -> None:
    """Forget every loaded model and compiled list (tests; after bulk changes in this process)."""
    for cache in (sentiment_cache, topic_classifier_cache):
        with cache._lock:
            cache._loaded = None
            cache._failed_version_id = None
            cache.last_error = ""
        cache.invalidate()
    topic_matcher.invalidate()
    ticker_matcher.invalidate()
