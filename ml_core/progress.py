"""Progress reporting and cancellation for long work.

Long functions in ml_core take `progress: ProgressCallback`, call it with a percentage (0-100)
and a short message, and stop when it raises `Cancelled`. The job framework in apps/core passes
a callback that writes to the Job row; the CLI passes a tqdm bar; tests pass a list appender.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Protocol, Self


class Cancelled(Exception):
    """Raised by a progress callback: whoever asked for the work has cancelled it."""


class ProgressCallback(Protocol):
    def __call__(self, percent: float, message: str = "") -> None: ...


def no_progress(percent: float, message: str = "") -> None:
    """A callback for callers that do not watch progress."""


def sub_progress(progress: ProgressCallback, start: float, end: float) -> ProgressCallback:
    """Map a step's own 0-100 onto [start, end] of the parent's scale."""
    span = end - start

    def report(percent: float, message: str = "") -> None:
        progress(start + span * max(0.0, min(100.0, percent)) / 100.0, message)

    return report


class TqdmProgress:
    """A terminal progress bar for the CLI; silent when stderr is not a terminal."""

    def __init__(self, description: str = "", disable: bool | None = None) -> None:
        from tqdm import tqdm

        if disable is None:
            disable = not sys.stderr.isatty()
        self._bar = tqdm(total=100, desc=description, disable=disable, file=sys.stderr,
                         bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}")
        self.percent = 0.0

    def __call__(self, percent: float, message: str = "") -> None:
        percent = max(self.percent, min(100.0, percent))
        self._bar.update(percent - self.percent)
        self.percent = percent
        if message:
            self._bar.set_postfix_str(message[:60], refresh=True)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batches_progress(progress: ProgressCallback, total: int, label: str) -> Callable[[int], None]:
    """A helper for loops over batches: call the returned function with the items done."""

    def done(count: int) -> None:
        progress(100.0 * count / max(total, 1), f"{label} {count}/{total}")

    return done
