"""Hyperparameter search over method, learning rate and epochs with optuna (TPE sampler).

Every trial trains on the same train/validation split and its figures are kept, finished or
pruned (a median pruner stops trials whose validation score after an epoch trails the
others'). The search only reports: choosing and activating a model stays a person's decision.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..data import LabelledTexts, stratified_split
from ..errors import UserError
from ..progress import ProgressCallback, no_progress, sub_progress
from .config import METHODS, ClassifierConfig
from .trainer import train_classifier

log = logging.getLogger(__name__)

OBJECTIVES = ("macro_f1", "accuracy")


@dataclass
class SearchSpace:
    methods: tuple[str, ...] = METHODS
    # Encoder learning rate for `full`; `lora` adapters use `lora_lr_factor` times as much.
    learning_rate: tuple[float, float] = (1e-5, 1.5e-4)
    lora_lr_factor: float = 10.0
    min_epochs: int = 1
    max_epochs: int = 4

    def validate(self) -> SearchSpace:
        bad = [m for m in self.methods if m not in METHODS]
        if not self.methods or bad:
            raise UserError(f"search methods must be among {', '.join(METHODS)}; got {list(self.methods)}")
        low, high = self.learning_rate
        if not 0 < low <= high:
            raise UserError(f"learning-rate range must be 0 < low <= high, got {self.learning_rate}")
        if not 1 <= self.min_epochs <= self.max_epochs:
            raise UserError(f"epochs range must be 1 <= min <= max, got {self.min_epochs}..{self.max_epochs}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"methods": list(self.methods), "learning_rate": list(self.learning_rate),
                "lora_lr_factor": self.lora_lr_factor, "min_epochs": self.min_epochs,
                "max_epochs": self.max_epochs}


@dataclass
class SearchResult:
    objective: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    space: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"objective": self.objective, "trials": self.trials, "best": self.best, "space": self.space,
                "seconds": self.seconds}


def _suggest(trial, base: ClassifierConfig, space: SearchSpace) -> ClassifierConfig:
    method = trial.suggest_categorical("method", list(space.methods))
    changes: dict[str, Any] = {"method": method}
    if method != "head":
        lr = trial.suggest_float("learning_rate", *space.learning_rate, log=True)
        changes["learning_rate"] = lr * (space.lora_lr_factor if method == "lora" else 1.0)
        changes["epochs"] = trial.suggest_int("epochs", space.min_epochs, space.max_epochs)
    return base.replace(**changes)


def tune_classifier(
    base: ClassifierConfig,
    train: LabelledTexts,
    *,
    valid: LabelledTexts | None = None,
    space: SearchSpace | None = None,
    n_trials: int = 6,
    objective: str = "macro_f1",
    progress: ProgressCallback = no_progress,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
) -> SearchResult:
    """Run `n_trials` trainings (nothing is written) and return every trial's figures.

    `on_trial(record)` sees each trial's record when it ends (complete, pruned or failed).
    """
    import optuna

    space = (space or SearchSpace()).validate()
    if objective not in OBJECTIVES:
        raise UserError(f"objective must be one of {', '.join(OBJECTIVES)}")
    if n_trials < 1:
        raise UserError("n_trials must be at least 1")
    base = base.validate()
    if valid is None:  # one split for all trials, so their scores compare
        train, valid = stratified_split(train, test_fraction=base.valid_fraction, seed=base.seed)
    started = time.perf_counter()
    result = SearchResult(objective=objective, space=space.to_dict())
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=base.seed, n_startup_trials=min(3, n_trials)),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )

    def run_trial(trial) -> float:
        config = _suggest(trial, base, space)
        trial_progress = sub_progress(progress, 100.0 * trial.number / n_trials,
                                      100.0 * (trial.number + 1) / n_trials)
        record: dict[str, Any] = {"number": trial.number, "params": dict(trial.params),
                                  "config": {"method": config.method, "learning_rate": config.learning_rate,
                                             "epochs": config.epochs}}
        result.trials.append(record)
        trial_started = time.perf_counter()

        def on_epoch(epoch_record: dict[str, Any]) -> None:
            record.setdefault("curves", []).append(epoch_record)
            trial.report(epoch_record[f"valid_{objective}"], epoch_record["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch_record['epoch']}")

        def report(percent: float, message: str = "") -> None:
            trial_progress(percent, f"trial {trial.number + 1}/{n_trials} ({config.method}): {message}")

        try:
            trained = train_classifier(config, train, None, valid=valid, progress=report, on_epoch=on_epoch)
        except optuna.TrialPruned:
            record.update(state="pruned", seconds=round(time.perf_counter() - trial_started, 2))
            last = record.get("curves", [{}])[-1]
            record["metrics"] = {k.removeprefix("valid_"): v for k, v in last.items() if k.startswith("valid_")}
            if on_trial is not None:
                on_trial(record)
            raise
        except Exception:
            record.update(state="failed", seconds=round(time.perf_counter() - trial_started, 2))
            raise
        metrics = trained.metrics
        record.update(state="complete", seconds=round(time.perf_counter() - trial_started, 2),
                      metrics={k: metrics[k] for k in ("accuracy", "macro_f1", "ece", "best_epoch", "epochs_run",
                                                       "seconds_per_epoch", "peak_rss_mb") if k in metrics},
                      curves=trained.curves)
        log.info("trial %d %s: %s %.4f", trial.number, trial.params, objective, metrics[objective])
        if on_trial is not None:
            on_trial(record)
        return float(metrics[objective])

    study.optimize(run_trial, n_trials=n_trials, catch=())
    complete = [t for t in result.trials if t.get("state") == "complete"]
    if complete:
        best = max(complete, key=lambda t: (t["metrics"][objective], -t["number"]))
        result.best = {"number": best["number"], "params": best["params"], "config": best["config"],
                       objective: best["metrics"][objective]}
    result.seconds = round(time.perf_counter() - started, 2)
    summary = f"best {objective} {result.best[objective]:.4f}" if result.best else "none finished"
    progress(100.0, f"{len(complete)} of {n_trials} trials complete; {summary}")
    return result


