"""A value read from the database at most once per `ttl_s` per process (settings and small-talk
answers): a chat message normally costs no query for them, and an edit reaches every serving
process within seconds."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BriefCache(Generic[T]):
    def __init__(self, load: Callable[[], T], ttl_s: float) -> None:
        self._load = load
        self.ttl_s = ttl_s
        self._cached: tuple[float, T] | None = None
        self._lock = threading.Lock()

    def get(self, fresh: bool = False) -> T:
        now = time.monotonic()
        cached = self._cached
        if not fresh and cached and now - cached[0] < self.ttl_s:
            return cached[1]
        with self._lock:
            value = self._load()
            self._cached = (now, value)
            return value

    def forget(self) -> None:
        """Drop the cached value (after an edit, and in tests; it also expires by itself)."""
        self._cached = None
