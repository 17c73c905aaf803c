"""Are the explanations faithful? Delete the words they credit and watch the probability fall.

For each text: explain the predicted label, delete the k words with the highest positive
attribution (k = `fraction` of the words, at least one), and measure how much the predicted
label's probability drops. Then delete k words picked at random (`random_trials` draws) and
measure the same. Explanations that point at what the model really uses make the first drop
larger than the second ("comprehensiveness" in DeYoung et al. 2020, ERASER, against a random
baseline). Deleting means removing the words' word pieces from the token sequence, so the rest
of the text is read exactly as before.

The report gives both mean drops, the share of texts where the attributed words mattered more,
and a one-sided Wilcoxon signed-rank p-value for "top-attributed deletions hurt more".
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import UserError
from ..progress import ProgressCallback, no_progress
from .explain import Explainer


@dataclass(frozen=True)
class FaithfulnessSettings:
    fraction: float = 0.2  # share of a text's words deleted (at least one)
    random_trials: int = 5  # random deletions per text, averaged
    max_examples: int = 200
    min_words: int = 3  # shorter texts say little: deleting one word of two is deleting the text
    seed: int = 0

    def validate(self) -> FaithfulnessSettings:
        if not 0.0 < self.fraction < 1.0:
            raise UserError(f"fraction must be between 0 and 1 (exclusive), not {self.fraction}")
        if self.random_trials < 1 or self.max_examples < 1:
            raise UserError("random_trials and max_examples must be at least 1")
        if self.min_words < 2:
            raise UserError("min_words must be at least 2")
        return self


def _without(ids: list[int], drop: set[int]) -> list[int]:
    return [token for i, token in enumerate(ids) if i not in drop]


def _word_positions(explainer: Explainer, text: str) -> tuple[list[int], list[list[int]]]:
    """Token ids and, per word, the positions of its pieces (special tokens excluded)."""
    encoded = explainer.encode(text)
    words: dict[int, list[int]] = {}
    for position, (special, word) in enumerate(zip(encoded.special, encoded.word_ids)):
        if not special:
            words.setdefault(word if word is not None else -(position + 1), []).append(position)
    return encoded.ids, list(words.values())


@contextmanager
def _torch_threads(threads: int | None):
    """torch's intra-op threads set to `threads` inside the block (None: left as they are)."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def faithfulness_check(explainer: Explainer, texts: Sequence[str], *, settings: FaithfulnessSettings | None = None,
                       progress: ProgressCallback = no_progress, batch_size: int = 8,
                       cpu_threads: int | None = 1) -> dict[str, Any]:
    """The deletion test on up to `max_examples` texts; a JSON-ready report.

    Texts are explained `batch_size` at a time (Explainer.explain_many), and their deletions
    scored in one batch. On a CPU the check runs on `cpu_threads` torch threads (None: as set):
    a short text gives each layer call too little work to share, and on a machine that other
    processes share, every call waits for the thread the scheduler left out. On a 2-core
    machine under load, one thread was 7x faster than two."""
    settings = (settings or FaithfulnessSettings()).validate()
    rng = np.random.default_rng(settings.seed)
    started = time.perf_counter()
    encoded = [(text, *_word_positions(explainer, text)) for text in texts if isinstance(text, str) and text.strip()]
    usable = [row for row in encoded if len(row[2]) >= settings.min_words]
    skipped = len(encoded) - len(usable)
    if len(usable) > settings.max_examples:  # a seeded sample of the texts long enough to test
        usable = [usable[i] for i in sorted(rng.choice(len(usable), settings.max_examples, replace=False))]
    top_drops, random_drops, seconds = [], [], []
    on_cpu = str(getattr(explainer, "device", "cpu")).startswith("cpu")
    batch_size = max(1, int(batch_size))
    with _torch_threads(cpu_threads if on_cpu else None):
        for start in range(0, len(usable), batch_size):
            chunk = usable[start:start + batch_size]
            progress(100.0 * start / len(usable), f"explaining texts {start + 1}-{start + len(chunk)} of {len(usable)}")
            explanations = explainer.explain_many([text for text, _, _ in chunk], batch_size=batch_size)
            variants: list[list[int]] = []
            for (text, ids, words), explanation in zip(chunk, explanations):
                seconds.append(explanation.seconds)
                # explanation.words and `words` come from the same encoding, in the same order.
                scores = np.array([w.score for w in explanation.words])
                k = max(1, round(settings.fraction * len(words)))
                top = [i for i in np.argsort(-scores, kind="stable")[:k]]
                variants.append(_without(ids, {p for i in top for p in words[i]}))
                for _ in range(settings.random_trials):
                    picked = rng.choice(len(words), size=k, replace=False)
                    variants.append(_without(ids, {p for i in picked for p in words[i]}))
            probabilities = explainer.probabilities_of_ids(variants).reshape(len(chunk), 1 + settings.random_trials, -1)
            for explanation, rows in zip(explanations, probabilities):
                chosen = rows[:, explanation.label_index]
                top_drops.append(explanation.value - float(chosen[0]))
                random_drops.append(explanation.value - float(chosen[1:].mean()))
        progress(100.0, f"explained {len(usable)} texts")
    top = np.asarray(top_drops)
    rand = np.asarray(random_drops)
    report: dict[str, Any] = {
        "n": len(top), "skipped_short": skipped, "settings": asdict(settings),
        "steps": explainer.settings.steps,
        "mean_drop_top": float(top.mean()) if len(top) else None,
        "mean_drop_random": float(rand.mean()) if len(rand) else None,
        "share_top_beats_random": float((top > rand).mean()) if len(top) else None,
        "seconds_per_explanation": float(np.mean(seconds)) if seconds else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    report["p_value"] = _one_sided_wilcoxon(top - rand) if len(top) else None
    report["passed"] = bool(len(top) and report["mean_drop_top"] > report["mean_drop_random"])
    return report


def _one_sided_wilcoxon(differences: np.ndarray) -> float | None:
    """p-value of "the differences tend to be positive" (None when every difference is zero)."""
    from scipy.stats import wilcoxon

    nonzero = differences[np.abs(differences) > 1e-12]
    if len(nonzero) == 0:
        return None
    return float(wilcoxon(nonzero, alternative="greater").pvalue)
