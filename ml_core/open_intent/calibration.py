"""The calibration curve of an open-intent detector: threshold vs share of known texts refused.

A detector gives every message a score (higher: more like a known intent) and refuses the
messages scoring below a threshold. Scoring texts of the known intents that the detector never
saw (held out of its fit) and taking the quantiles of those scores tells, for each threshold,
which share of known questions it would refuse; so a setting such as "at most 5 % of known
questions refused" (the target false-rejection rate) becomes the 5 % quantile. The curve keeps
that relation as a few hundred (refused share, threshold) points, small enough to store as JSON
beside a model version and to draw on a settings page.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UserError

CURVE_FORMAT = "ml_core.open_intent_calibration"
# Refused shares at which the curve is kept: fine steps where targets are set (up to 20 %),
# coarser ones above, so the whole range can still be drawn.
_RATE_GRID = np.unique(np.round(np.concatenate([np.arange(0.0, 0.2, 0.0025), np.arange(0.2, 1.0, 0.01), [1.0]]), 6))


class CalibrationError(UserError):
    """A calibration curve cannot be built or read (too few texts, bad JSON, a bad rate)."""


def check_rate(rate: float, name: str = "target false-rejection rate") -> float:
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise CalibrationError(f"{name} must be a number between 0 and 1, not {rate!r}") from None
    if not 0.0 <= value < 1.0 or math.isnan(value):
        raise CalibrationError(f"{name} must be in [0, 1), not {rate!r}")
    return value


@dataclass(frozen=True)
class CalibrationCurve:
    """Thresholds at which a given share of held-out known texts is refused (score < threshold).

    `rates` rise from 0 to 1 and `thresholds` with them; `n` is how many held-out texts the
    quantiles come from (the sampling error of a share r is about sqrt(r (1 - r) / n)).
    """

    rates: tuple[float, ...]
    thresholds: tuple[float, ...]
    n: int
    score: str = ""  # what the scores are, e.g. "knn cosine similarity (k=1)"

    @classmethod
    def from_scores(cls, scores: Sequence[float] | np.ndarray, *, score: str = "",
                    min_texts: int = 10) -> CalibrationCurve:
        values = np.asarray(scores, dtype=np.float64).ravel()
        if not np.all(np.isfinite(values)):
            raise CalibrationError("calibration scores must be finite numbers")
        if len(values) < min_texts:
            raise CalibrationError(
                f"calibration needs at least {min_texts} held-out known texts, got {len(values)}"
            )
        thresholds = np.quantile(values, _RATE_GRID)  # linear interpolation between order statistics
        return cls(rates=tuple(float(r) for r in _RATE_GRID),
                   thresholds=tuple(float(t) for t in np.maximum.accumulate(thresholds)),
                   n=len(values), score=score)

    def threshold_for(self, rate: float) -> float:
        """The threshold that refuses a share `rate` of known texts (score < threshold is refused)."""
        return float(np.interp(check_rate(rate), self.rates, self.thresholds))

    def refused_share(self, threshold: float) -> float:
        """Which share of known texts a threshold refuses (the inverse of threshold_for)."""
        thresholds = np.asarray(self.thresholds)
        rates = np.asarray(self.rates)
        threshold = float(threshold)
        if threshold <= thresholds[0]:
            return 0.0
        if threshold > thresholds[-1]:
            return 1.0
        # Flat stretches (tied scores): the share refused is where the threshold first exceeds them.
        keep = np.concatenate([[True], np.diff(thresholds) > 0])
        return float(np.interp(threshold, thresholds[keep], rates[keep]))

    def sampling_error(self, rate: float) -> float:
        """One standard error of the refused share at `rate` that comes from the n held-out texts."""
        rate = check_rate(rate)
        return math.sqrt(rate * (1.0 - rate) / self.n)

    def points(self) -> list[dict[str, float]]:
        """[{refused_share, threshold}, ...] for drawing the curve."""
        return [{"refused_share": r, "threshold": t} for r, t in zip(self.rates, self.thresholds)]

    def to_dict(self) -> dict[str, Any]:
        return {"format": CURVE_FORMAT, "n": self.n, "score": self.score,
                "rates": list(self.rates), "thresholds": list(self.thresholds)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalibrationCurve:
        if not isinstance(data, dict) or data.get("format") != CURVE_FORMAT:
            raise CalibrationError(f"not an open-intent calibration curve (format {_format_of(data)!r})")
        try:
            rates = tuple(float(r) for r in data["rates"])
            thresholds = tuple(float(t) for t in data["thresholds"])
            n = int(data["n"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"calibration curve is incomplete or malformed: {exc}") from None
        if len(rates) != len(thresholds) or len(rates) < 2:
            raise CalibrationError("calibration curve needs as many thresholds as rates, at least two")
        if np.any(np.diff(rates) < 0) or np.any(np.diff(thresholds) < 0):
            raise CalibrationError("calibration curve rates and thresholds must not decrease")
        if rates[0] != 0.0 or rates[-1] != 1.0 or n < 1:
            raise CalibrationError("calibration curve must run from rate 0 to rate 1 and come from n >= 1 texts")
        return cls(rates=rates, thresholds=thresholds, n=n, score=str(data.get("score", "")))


def _format_of(data: Any) -> Any:
    return data.get("format") if isinstance(data, dict) else type(data).__name__
