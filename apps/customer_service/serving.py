"""What one serving process holds to answer a message with one encoder pass.

 - the shared sentence encoder (apps.core.services.encoders), loaded once per process;
 - the active intent model (an ActiveModelCache: a new active version is picked up within
   seconds). A `head` model on the same backbone (and pooling) is applied to the sentence
   embedding the retrieval already computed, so understanding a message costs one encoder pass;
   any other artifact (full or LoRA fine-tuning, an ONNX backend) goes through ClassifierPredictor
   behind the same `IntentModel` seam (both: ml_core.serving.load_shared_embedding_classifier);
 - the version's open-intent detector (ml_core.open_intent, fitted at training on the same
   shared embedding: services.training.open_intent_fit), loaded with the model: is the message
   like any known intent at all?
 - the small-talk matcher (smalltalk.py): the example phrases' embeddings;
 - the knowledge index: a faiss index of every active entry's example questions and answer,
   built from the vectors stored in the database and brought up to date incrementally
   whenever the knowledge base's revision changes (only changed rows are read).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.conf import settings

from apps.core.models import ModelVersion
from apps.core.services.registry import ActiveModelCache

from .cascade import Hit, RetrievalCalibration
from .scenario import SCENARIO
from .smalltalk import SmallTalkMatcher, example_phrases

log = logging.getLogger(__name__)

# Retrieval answers need at least this similarity while the knowledge base is too small to
# calibrate on (fewer than MIN_CALIBRATION_EXAMPLES questions).
DEFAULT_RETRIEVAL_THRESHOLD = 0.75
MIN_CALIBRATION_EXAMPLES = 20
MAX_CALIBRATION_EXAMPLES = 3000
SYNC_INTERVAL_S = 2.0
RECALIBRATE_AFTER_S = 60.0
SERVING_THREADS = 1  # torch intra-op threads in a process that answers chat messages (see Assistant)


# --- vectors stored in the database -----------------------------------------------------------
ENCODER_SETTING = "CUSTOMER_SERVICE_ENCODER"


def embedding_model_name() -> str:
    """What the stored vectors were computed with; a different encoder means re-embedding."""
    from apps.core.services.encoders import encoder_choice

    choice = encoder_choice(ENCODER_SETTING)
    return str(settings.ML_BACKBONE) if choice == "torch" else f"{settings.ML_BACKBONE} ({choice})"


def serving_encoder():
    """The shared encoder the chat uses (CUSTOMER_SERVICE_ENCODER), loaded once per process."""
    from apps.core.services.encoders import configured_encoder

    # One intra-op thread, as for torch (see Assistant._pin_threads): concurrent requests and
    # processes share the cores better than one request split over them.
    return configured_encoder(ENCODER_SETTING, threads=SERVING_THREADS)


def vector_to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def vector_from_bytes(data: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype=np.float32)


def embed_texts(texts: Sequence[str], progress=None, batch_size: int = 64) -> np.ndarray:
    """Raw (not normalised) sentence embeddings from the serving encoder, one row per text."""
    from apps.core.services.encoders import embed

    return embed(ENCODER_SETTING, texts, batch_size=batch_size, threads=SERVING_THREADS, progress=progress)


def normalise(vectors: np.ndarray) -> np.ndarray:
    from ml_core.numeric import l2_normalise

    return l2_normalise(vectors)


def kb_revision() -> int:
    """The knowledge base's revision (raised by every change; services.kb bumps it)."""
    from .models import KnowledgeBaseState

    state = KnowledgeBaseState.objects.filter(pk=1).values_list("revision", flat=True).first()
    return int(state or 0)


# --- the intent model seam --------------------------------------------------------------------
class IntentModel(Protocol):
    labels: list[str]
    # The version's open-intent detector (ml_core.open_intent.OpenIntentDetector), None when the
    # version has none (trained before detectors existed).
    open_detector: Any

    def predict(self, text: str, embedding: np.ndarray, top_k: int = 3) -> list[tuple[str, float]]:
        """(intent, calibrated probability), likeliest first. `embedding`: the raw sentence embedding."""


class ClassifierIntentModel:
    """An intent classifier (ml_core.serving.SharedEmbeddingClassifier) behind the IntentModel seam."""

    open_detector = None

    def __init__(self, classifier) -> None:
        self.classifier = classifier
        self.labels = list(classifier.labels)

    def predict(self, text: str, embedding: np.ndarray, top_k: int = 3) -> list[tuple[str, float]]:
        from ml_core.numeric import top_k as likeliest

        return likeliest(self.classifier.probabilities([text], embedding)[0], self.labels, top_k)


class EmbeddingHeadIntentModel(ClassifierIntentModel):
    """A `head` classifier (logistic regression on frozen embeddings) applied to the shared embedding."""


class PredictorIntentModel(ClassifierIntentModel):
    """Any classifier artifact through ml_core's ClassifierPredictor (its own encoder pass)."""

    def __init__(self, predictor) -> None:
        from ml_core.serving import SharedEmbeddingClassifier

        super().__init__(SharedEmbeddingClassifier.of_predictor(predictor))


def intent_model_load(folder: Path, version: ModelVersion | None = None) -> IntentModel:
    """The cheapest faithful way to serve an intent artifact in this process, with its open-intent
    detector when the version has one."""
    model = _intent_classifier_load(folder)
    model.open_detector = open_detector_load(folder)
    return model


def open_detector_load(folder: Path):
    """The open-intent detector saved beside a model (None when the version has none)."""
    from ml_core.open_intent import OpenIntentDetector, is_detector_folder

    return OpenIntentDetector.load(folder) if is_detector_folder(folder) else None


def _intent_classifier_load(folder: Path) -> IntentModel:
    from ml_core.serving import load_shared_embedding_classifier

    device = "cpu" if settings.ML_DEVICE == "auto" else settings.ML_DEVICE
    classifier = load_shared_embedding_classifier(folder, shared_backbone=settings.ML_BACKBONE, device=device)
    if classifier.on_shared_embedding:
        return EmbeddingHeadIntentModel(classifier)
    return PredictorIntentModel(classifier.predictor)


# --- the knowledge index ----------------------------------------------------------------------
@dataclass(frozen=True)
class EntryView:
    id: int
    title: str
    answer: str
    intent: str
    revision: int
    examples: int = 0


def calibrate_retrieval(index, example_ids: list[str], intent_of: dict[str, str], *,
                        precision_target: float, seed: int = 0) -> RetrievalCalibration:
    """Leave-one-out on the knowledge base's own questions: for each question, is the nearest
    *other* text of the same intent? Isotonic regression turns similarity into P(right intent);
    the threshold is the lowest similarity at which that probability reaches `precision_target`."""
    if len(example_ids) < MIN_CALIBRATION_EXAMPLES:
        return RetrievalCalibration(DEFAULT_RETRIEVAL_THRESHOLD, (), precision_target, len(example_ids))
    rng = np.random.default_rng(seed)
    sample = list(example_ids)
    if len(sample) > MAX_CALIBRATION_EXAMPLES:
        sample = [sample[i] for i in sorted(rng.choice(len(sample), MAX_CALIBRATION_EXAMPLES, replace=False))]
    queries = np.stack([index.vector(i) for i in sample])
    results = index.search(queries, k=2)
    scores, correct = [], []
    for item_id, hits in zip(sample, results):
        others = [h for h in hits if h.id != item_id]
        if not others:
            continue
        scores.append(others[0].score)
        correct.append(float(intent_of.get(others[0].id) == intent_of[item_id]))
    if len(scores) < MIN_CALIBRATION_EXAMPLES:
        return RetrievalCalibration(DEFAULT_RETRIEVAL_THRESHOLD, (), precision_target, len(scores))
    from sklearn.isotonic import IsotonicRegression

    order = np.argsort(scores)
    x, y = np.asarray(scores)[order], np.asarray(correct)[order]
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(x, y)
    fitted = iso.predict(x)
    # Answer from retrieval where *this* answer is right often enough (the calibrated probability
    # at its similarity), not merely where answers at or above it are on average.
    reaching = np.nonzero(fitted >= precision_target)[0]
    threshold = float(x[reaching[0]]) if len(reaching) else 1.01  # never answer from retrieval
    points, last = [], None
    for s, p in zip(x.tolist(), fitted.tolist()):
        if p != last:
            points.append((round(s, 4), round(p, 4)))
            last = p
    return RetrievalCalibration(round(threshold, 4), tuple(points), precision_target, len(scores))


class KnowledgeIndex:
    """Active entries and a faiss index of their questions ("q<id>") and answers ("a<id>")."""

    def __init__(self, check_interval_s: float = SYNC_INTERVAL_S) -> None:
        self.check_interval_s = check_interval_s
        self.revision: int | None = None
        self.entries: dict[int, EntryView] = {}
        self.main_entries: dict[str, int] = {}
        self.vectors = None  # ml_core.retrieval.VectorIndex, created at the first vector
        self._vector_revision: dict[str, int] = {}
        self._entry_of: dict[str, int] = {}
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self.calibration = RetrievalCalibration(DEFAULT_RETRIEVAL_THRESHOLD)
        self._calibrated_for: tuple | None = None
        self._calibrated_at = 0.0
        self.model_name = embedding_model_name()

    # -- reading ----------------------------------------------------------------------------
    def search(self, embedding: np.ndarray, k: int = 20) -> list[Hit]:
        if self.vectors is None or not len(self.vectors):
            return []
        hits = []
        for found in self.vectors.search(embedding, k=k)[0]:
            entry = self.entries.get(self._entry_of.get(found.id, -1))
            if entry is not None:
                hits.append(Hit(entry.id, entry.intent, found.score, "question" if found.id[0] == "q" else "answer"))
        return hits

    def main_entry(self, intent: str) -> int | None:
        return self.main_entries.get(intent)

    def ensure_calibrated(self, precision_target: float) -> RetrievalCalibration:
        """The retrieval calibration of the current knowledge base, recomputed after changes at most
        once a minute (it costs a search per question; a few edits barely move it)."""
        key = (self.revision, round(precision_target, 4))
        stale = self._calibrated_for is None or self._calibrated_for[1] != key[1] or (
            self._calibrated_for != key and time.monotonic() - self._calibrated_at > RECALIBRATE_AFTER_S)
        if stale:
            with self._lock:
                self._calibrate(precision_target)
                self._calibrated_for = key
                self._calibrated_at = time.monotonic()
        return self.calibration

    def _calibrate(self, precision_target: float) -> None:
        if self.vectors is None:
            self.calibration = RetrievalCalibration(DEFAULT_RETRIEVAL_THRESHOLD, (), precision_target, 0)
            return
        example_ids = [i for i in self.vectors.ids if i.startswith("q")]
        intent_of = {i: self.entries[e].intent for i, e in self._entry_of.items() if e in self.entries}
        started = time.perf_counter()
        self.calibration = calibrate_retrieval(self.vectors, example_ids, intent_of,
                                               precision_target=precision_target)
        log.info("retrieval calibrated on %d questions in %.2fs: threshold %.3f", self.calibration.n,
                 time.perf_counter() - started, self.calibration.threshold)

    # -- syncing with the database ----------------------------------------------------------
    def sync(self, force: bool = False) -> bool:
        """Bring the index up to date if the knowledge base changed; True when it did."""
        if not force and time.monotonic() - self._checked_at < self.check_interval_s:
            return False
        with self._lock:
            if not force and time.monotonic() - self._checked_at < self.check_interval_s:
                return False
            revision = kb_revision()
            changed = False
            if revision != self.revision or force:
                self._apply_changes()
                self.revision = revision
                changed = True
            self._checked_at = time.monotonic()
            return changed

    def _apply_changes(self) -> None:
        from .models import KBEntry, KBExample

        started = time.perf_counter()
        entry_rows = dict(KBEntry.objects.filter(is_active=True).values_list("id", "revision"))
        changed_entries = [i for i, rev in entry_rows.items()
                           if i not in self.entries or self.entries[i].revision != rev]
        entries = {i: e for i, e in self.entries.items() if i in entry_rows}
        for chunk in _chunks(changed_entries, 500):
            for row in KBEntry.objects.filter(id__in=chunk).values("id", "title", "answer", "intent", "revision"):
                entries[row["id"]] = EntryView(**row)

        # Vectors of this encoder only; a row embedded by another encoder waits for re-embedding.
        wanted: dict[str, int] = {}
        entry_of: dict[str, int] = {}
        for i, rev in KBEntry.objects.filter(is_active=True, embedding_model=self.model_name).values_list(
                "id", "revision"):
            wanted[f"a{i}"] = rev
            entry_of[f"a{i}"] = i
        counts: dict[int, int] = {}
        for i, entry_id, rev in KBExample.objects.filter(
                entry__is_active=True, embedding_model=self.model_name).values_list("id", "entry_id", "revision"):
            wanted[f"q{i}"] = rev
            entry_of[f"q{i}"] = entry_id
            counts[entry_id] = counts.get(entry_id, 0) + 1
        stale = [i for i in self._vector_revision if i not in wanted]
        fresh = [i for i, rev in wanted.items() if self._vector_revision.get(i) != rev]
        if stale and self.vectors is not None:
            self.vectors.remove(stale)
        added = self._load_vectors(fresh)
        for i in stale:
            del self._vector_revision[i]
        for i in added:
            self._vector_revision[i] = wanted[i]
        self._entry_of = {i: entry_of[i] for i in self._vector_revision}

        self.entries = {i: EntryView(e.id, e.title, e.answer, e.intent, e.revision, counts.get(i, 0))
                        for i, e in entries.items()}
        mains: dict[str, EntryView] = {}
        for entry in sorted(self.entries.values(), key=lambda e: e.id):
            best = mains.get(entry.intent)
            if best is None or entry.examples > best.examples:
                mains[entry.intent] = entry
        self.main_entries = {intent: e.id for intent, e in mains.items()}
        log.info("knowledge index: %d entries, %d vectors (%d added, %d removed) in %.3fs", len(self.entries),
                 len(self._vector_revision), len(added), len(stale), time.perf_counter() - started)

    def _load_vectors(self, ids: list[str]) -> set[str]:
        from ml_core.retrieval import VectorIndex

        from .models import KBEntry, KBExample

        added: set[str] = set()
        for prefix, model in (("a", KBEntry), ("q", KBExample)):
            numbers = [int(i[1:]) for i in ids if i[0] == prefix]
            for chunk in _chunks(numbers, 500):
                rows = list(model.objects.filter(id__in=chunk, embedding_model=self.model_name)
                            .exclude(embedding=None).values_list("id", "embedding"))
                if not rows:
                    continue
                vectors = np.stack([vector_from_bytes(blob) for _, blob in rows])
                if self.vectors is None:
                    self.vectors = VectorIndex(vectors.shape[1])
                if vectors.shape[1] != self.vectors.dimension:
                    log.warning("skipping %d vectors of dimension %d (index has %d)", len(rows), vectors.shape[1],
                                self.vectors.dimension)
                    continue
                keys = [f"{prefix}{i}" for i, _ in rows]
                self.vectors.add(keys, vectors)
                added.update(keys)
        return added


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


_blas = None


def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread. A message's products (the intent head,
    the open-intent detector's similarities, small talk) are tiny: waking BLAS's thread pool on a
    busy machine costs 5-10 ms per message instead of 0.5 (measured on the 2-core machine with
    the Bitext detector), and concurrent requests share the cores better anyway."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


# --- the process-wide assistant ---------------------------------------------------------------
@dataclass
class Understanding:
    embedding: np.ndarray
    intents: list[tuple[str, float]]
    hits: list[Hit]
    model_version: int | None  # the version number (v3), as replies store it
    encode_ms: float
    model_version_id: int | None = None  # the ModelVersion row
    open_score: float | None = None  # the open-intent detector's score (None: no detector, or the check is off)
    open_threshold: float | None = None  # messages scoring below it are open

    @property
    def unit_embedding(self) -> np.ndarray:
        return normalise(self.embedding)[0]


class Assistant:
    """Everything this process needs to understand a message; one per process (`assistant()`)."""

    def __init__(self) -> None:
        self.intent_models: ActiveModelCache[IntentModel] = ActiveModelCache(SCENARIO, intent_model_load)
        self.index = KnowledgeIndex()
        self._threads_pinned = False
        self._smalltalk: tuple[tuple, SmallTalkMatcher] | None = None
        self._smalltalk_lock = threading.Lock()

    def _pin_threads(self) -> None:
        """One intra-op thread for torch in a serving process: a message is a few dozen tokens, so
        splitting it over threads saves little, and threads of concurrent requests (and other
        processes) then fight over the cores. Measured on the 2-core machine under load: 2 threads
        1.9 s per message, 1 thread 0.11 s; on an idle machine both well under 20 ms."""
        if not self._threads_pinned:
            import torch

            serving_encoder()  # loading it applies ML_CPU_THREADS; serving overrides that below
            torch.set_num_threads(SERVING_THREADS)
            self._threads_pinned = True

    def understand(self, text: str, top_k: int = 3, refusal_rate: float = 0.0) -> Understanding:
        """Embed once; the intents, the nearest knowledge-base texts and, with `refusal_rate` > 0,
        the open-intent score and the threshold that refuses that share of known questions."""
        self._pin_threads()
        self.index.sync()
        started = time.perf_counter()
        embedding = embed_texts([text])
        encode_ms = (time.perf_counter() - started) * 1000
        loaded = self.intent_models.get()
        with one_blas_thread():
            intents = loaded.model.predict(text, embedding, top_k=top_k) if loaded else []
            unit = normalise(embedding)
            hits = self.index.search(unit, k=20)
            open_score, open_threshold = self._open_check(loaded, unit, refusal_rate)
        return Understanding(embedding[0], intents, hits, loaded.version if loaded else None, encode_ms,
                             loaded.version_id if loaded else None, open_score, open_threshold)

    @staticmethod
    def _open_check(loaded, unit: np.ndarray, refusal_rate: float) -> tuple[float | None, float | None]:
        """(score, threshold) of the version's open-intent detector; (None, None) without one."""
        detector = getattr(loaded.model, "open_detector", None) if loaded else None
        if detector is None or refusal_rate <= 0:
            return None, None
        from ml_core.open_intent import OpenIntentError

        try:
            return float(detector.scores(unit)[0]), float(detector.threshold_for(refusal_rate))
        except OpenIntentError as exc:  # e.g. an encoder of another dimension: answer without the check
            log.warning("open-intent check skipped: %s", exc)
            return None, None

    def smalltalk_matcher(self, extra: dict[str, list[str]] | None = None) -> SmallTalkMatcher:
        """The matcher of the built-in example phrases plus `extra` ones, embedded once per set of phrases."""
        phrases = example_phrases(extra)
        key = (self.index.model_name, tuple(phrases))
        cached = self._smalltalk
        if cached is not None and cached[0] == key:
            return cached[1]
        with self._smalltalk_lock:
            if self._smalltalk is None or self._smalltalk[0] != key:
                vectors = normalise(embed_texts([text for _, text in phrases]))
                self._smalltalk = (key, SmallTalkMatcher(phrases, vectors))
            return self._smalltalk[1]

    def warm_up(self) -> None:
        """Load the encoder, the model and the index now rather than on the first customer's message."""
        self._pin_threads()
        self.index.sync(force=True)
        embed_texts(["hello"])
        self.intent_models.get()
        from .models import AssistantSettings, SmallTalkReply

        # The admins' extra phrases (services.smalltalk.smalltalk_extra_examples, read here so that
        # serving never imports the services that use it).
        self.smalltalk_matcher({row.kind: row.example_list() for row in SmallTalkReply.objects.all()
                                if row.example_list()})

        stored = AssistantSettings.objects.filter(pk=1).values_list("retrieval_precision", flat=True).first()
        self.index.ensure_calibrated(stored or AssistantSettings._meta.get_field("retrieval_precision").default)


_assistant: Assistant | None = None
_assistant_lock = threading.Lock()
_warming: threading.Thread | None = None
_warm_lock = threading.Lock()


def assistant_warm_up_soon() -> None:
    """Load the encoder, model and index in the background, once per process (the widget frame
    calls this as it opens, so the customer's first question does not wait for the loading)."""
    global _warming
    if _warming is not None:
        return
    target = assistant()  # this instance, even if a test resets the global meanwhile
    with _warm_lock:
        if _warming is not None:
            return

        def run() -> None:
            from django.db import connection

            try:
                target.warm_up()
            except Exception:  # the first message will load (and report) whatever failed
                log.exception("warming up the assistant failed")
            finally:
                connection.close()

        _warming = threading.Thread(target=run, name="assistant-warm-up", daemon=True)
        _warming.start()


def assistant() -> Assistant:
    global _assistant
    if _assistant is None:
        with _assistant_lock:
            if _assistant is None:
                _assistant = Assistant()
    return _assistant


def assistant_reset() -> None:
    """Forget this process's assistant (tests switch encoders and databases)."""
    global _assistant, _warming
    with _assistant_lock:
        _warming = None
        if _assistant is not None and _assistant.intent_models in ActiveModelCache._instances:
            ActiveModelCache._instances.remove(_assistant.intent_models)
        _assistant = None
