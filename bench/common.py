"""Helpers every benchmark script shares: data paths, tables, the final JSON line.

Conventions: each script takes its data files as arguments (defaults under ../shared/data),
prints a table of its figures beside the published anchors, and with --json prints all its
figures as one JSON object on its last line.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    return p


def progress_printer(stage: str, every_s: float = 20.0):
    """A progress callback (percent, message) that prints to stderr at most every `every_s` seconds."""
    last = {"at": 0.0}

    def report(percent: float, message: str = "") -> None:
        now = time.monotonic()
        if now - last["at"] > every_s or percent >= 100:
            last["at"] = now
            print(f"[{stage}] {percent:5.1f}% {message}", file=sys.stderr, flush=True)

    return report


def data_path(*parts: str) -> Path:
    return SHARED_DATA.joinpath(*parts)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], out=sys.stdout) -> None:
    rows = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(c)), *(len(r[i]) for r in rows)) if rows else len(str(c)) for i, c in enumerate(columns)]
    print(f"\n{title}", file=out)
    print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)), file=out)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return "" if value is None else str(value)


def finish(figures: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(figures, sort_keys=True, default=str))
