"""Latency and throughput of text scorers, measured side by side.

Each call is end to end (tokenize, pad, run, return rows), as a serving process sees it. On a
shared machine the load changes from second to second, so variants are measured in
interleaved rounds (round 1: A, B, C; round 2: A, B, C ...): a busy spell slows them all
alike. p50/p95 come from every timed call of every round; throughput is the median of the
rounds' throughputs. The load average before and after is reported with the figures.
"""
from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..progress import ProgressCallback, no_progress

Scorer = Callable[[list[str]], object]


@dataclass
class LatencyFigures:
    batch_size: int
    p50_ms: float
    p95_ms: float
    texts_per_s: float
    calls: int

    def to_dict(self) -> dict:
        return asdict(self)


def synthetic_texts(tokenizer, seq_len: int, count: int) -> list[str]:
    """`count` texts that tokenize to exactly `seq_len` tokens (special tokens included)."""
    if seq_len < 3:
        raise ValueError("seq_len must be at least 3 (two special tokens and one word)")
    words = ["account", "card", "money", "transfer", "payment", "bank", "market", "profit"]
    texts = []
    for i in range(count):
        text = " ".join(words[(i + j) % len(words)] for j in range(seq_len - 2))
        # Cut or pad by single tokens until the length is exact (a word may split in pieces).
        while len(tokenizer(text)["input_ids"]) > seq_len:
            text = text.rsplit(" ", 1)[0]
        while len(tokenizer(text)["input_ids"]) < seq_len:
            text += " a"
        texts.append(text)
    return texts


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


def _calls(texts: Sequence[str], batch_size: int, n_calls: int) -> list[list[str]]:
    texts = list(texts)
    calls = []
    for i in range(n_calls):
        start = (i * batch_size) % len(texts)
        chunk = texts[start : start + batch_size]
        if len(chunk) < batch_size:
            chunk += texts[: batch_size - len(chunk)]
        calls.append(chunk)
    return calls


def measure_side_by_side(scorers: dict[str, Scorer], texts: Sequence[str], *, batch_sizes: Sequence[int] = (1, 32),
                         rounds: int = 3, calls_per_round: dict[int, int] | None = None, warmup: int = 2,
                         progress: ProgressCallback = no_progress) -> dict[str, dict[int, LatencyFigures]]:
    """{name: {batch size: figures}} for every scorer, measured in interleaved rounds."""
    if not texts:
        raise ValueError("latency needs at least one text")
    calls_per_round = calls_per_round or {}
    timings: dict[tuple[str, int], list[float]] = {}
    throughputs: dict[tuple[str, int], list[float]] = {}
    for name, scorer in scorers.items():  # warm up caches, thread pools and lazy initialisation
        for batch_size in batch_sizes:
            for call in _calls(texts, batch_size, warmup):
                scorer(call)
    steps = rounds * len(batch_sizes) * len(scorers)
    step = 0
    for round_index in range(rounds):
        for batch_size in batch_sizes:
            n_calls = calls_per_round.get(batch_size) or max(4, 256 // batch_size)
            calls = _calls(texts[round_index * 7:] + texts[: round_index * 7], batch_size, n_calls)
            for name, scorer in scorers.items():
                durations = []
                started = time.perf_counter()
                for call in calls:
                    t0 = time.perf_counter()
                    scorer(call)
                    durations.append(time.perf_counter() - t0)
                elapsed = time.perf_counter() - started
                timings.setdefault((name, batch_size), []).extend(durations)
                throughputs.setdefault((name, batch_size), []).append(n_calls * batch_size / elapsed)
                step += 1
                progress(100.0 * step / steps, f"latency: {name} at batch {batch_size}, round {round_index + 1}/{rounds}")
    figures: dict[str, dict[int, LatencyFigures]] = {}
    for (name, batch_size), durations in timings.items():
        ms = np.asarray(durations) * 1000.0
        figures.setdefault(name, {})[batch_size] = LatencyFigures(
            batch_size=batch_size, p50_ms=round(float(np.percentile(ms, 50)), 3),
            p95_ms=round(float(np.percentile(ms, 95)), 3),
            texts_per_s=round(statistics.median(throughputs[(name, batch_size)]), 1), calls=len(durations),
        )
    return figures


def file_size_mb(*paths: Path | str) -> float:
    return round(sum(Path(p).stat().st_size for p in paths if Path(p).is_file()) / 2**20, 2)
