"""Micro-batching: concurrent small requests become one batch for the model.

A transformer on a CPU scores 32 texts in far less than 32 times the time of one, so when many
threads (web requests, a threaded inference worker) each ask for one or a few texts, one
background thread gathers what arrived within `max_wait_ms` (up to `max_batch_size` texts),
runs the model once, and hands each caller its own rows. A caller alone waits at most
`max_wait_ms` more than it would have; under load, throughput approaches that of batch scoring.
Errors reach every caller of the failed batch.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..progress import ProgressCallback
from .predictor import ClassifierPredictor, _check_texts

log = logging.getLogger(__name__)


@dataclass
class _Request:
    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


@dataclass
class BatcherStats:
    requests: int = 0
    texts: int = 0
    batches: int = 0
    largest_batch: int = 0

    def to_dict(self) -> dict[str, float]:
        return {"requests": self.requests, "texts": self.texts, "batches": self.batches,
                "largest_batch": self.largest_batch,
                "mean_batch": round(self.texts / self.batches, 2) if self.batches else 0.0}


class MicroBatcher:
    """Runs `score(texts) -> array (one row per text)` on batches gathered from concurrent callers."""

    def __init__(self, score: Callable[[list[str]], np.ndarray], *, max_batch_size: int = 32,
                 max_wait_ms: float = 3.0, name: str = "micro-batcher") -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must be >= 0")
        self.score = score
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.stats = BatcherStats()
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, texts: Sequence[str]) -> np.ndarray:
        """The rows of `texts`, scored in whatever batch they joined (blocks until done)."""
        if self._closed:
            raise RuntimeError("this micro-batcher is closed")
        request = _Request(list(texts))
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                request = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if request is None:
                return batch, True
            batch.append(request)
            size += len(request.texts)
        return batch, False

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch, stop = self._gather(first)
            texts = [text for request in batch for text in request.texts]
            try:
                rows = self.score(texts)
            except BaseException as exc:  # noqa: BLE001  every caller of this batch sees the error
                for request in batch:
                    request.error = exc
                    request.done.set()
                continue
            self.stats.requests += len(batch)
            self.stats.texts += len(texts)
            self.stats.batches += 1
            self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
            start = 0
            for request in batch:
                request.result = rows[start : start + len(request.texts)]
                start += len(request.texts)
                request.done.set()


class MicroBatchingPredictor(ClassifierPredictor):
    """A ClassifierPredictor (same methods) whose small concurrent requests share one model call.

        predictor = MicroBatchingPredictor(ClassifierPredictor.load(folder))
        predictor.predict_one("where is my card?")   # from many threads at once

    Requests of `max_batch_size` texts or more skip the queue: they are a batch already.
    """

    def __init__(self, predictor: ClassifierPredictor, *, max_batch_size: int = 32, max_wait_ms: float = 3.0) -> None:
        super().__init__(predictor.backend, predictor.config, predictor.folder)
        self.inner = predictor
        self.batcher = MicroBatcher(predictor.predict_logits, max_batch_size=max_batch_size,
                                    max_wait_ms=max_wait_ms, name=f"micro-batcher-{id(self):x}")

    def predict_logits(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if len(texts) >= self.batcher.max_batch_size:
            return self.inner.predict_logits(texts, progress)
        return self.batcher.submit(texts)

    def close(self) -> None:
        self.batcher.close()
