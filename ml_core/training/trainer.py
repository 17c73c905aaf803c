"""`train_classifier`: one function for the three methods, writing a self-describing artifact.

The steps, in order:
 1. validate the config, pick the device, fix the seeds, join DDP when torchrun started us;
 2. hold out a stratified validation split when none is given;
 3. load the backbone with its own pooling and put a linear head on it;
 4. fit a logistic regression on frozen embeddings: that is the `head` method, and the
    starting point of the head for `full` and `lora` (a new random head would first wreck
    the encoder's features with large gradients);
 5. `full` / `lora`: AdamW (a higher learning rate for the head), linear warmup then decay,
    gradient clipping, optional class weights, early stopping on the validation split with the
    best epoch kept, a checkpoint after every epoch to resume from;
 6. fit the calibration temperature on the validation logits and write the artifact.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import resource
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..artifacts import disk_full_error
from ..backbone import select_device
from ..data import DataError, LabelledTexts, label_counts, stratified_split, texts_digest
from ..errors import UserError
from ..evaluation import label_ids, report_from_logits
from ..numeric import softmax
from ..progress import ProgressCallback, no_progress, sub_progress
from .config import ClassifierConfig, ConfigError
from .distributed import DistributedContext, device_for_rank, init_distributed
from .model import (
    ADAPTER_DIR,
    ENCODER_DIR,
    TOKENIZER_DIR,
    ArtifactConfig,
    TextClassifier,
    batched_forward,
    load_base,
    pad_batch,
    save_head,
    tokenize,
    write_artifact_config,
)
from .plugins import TrainingStep, build_plugins

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
# Length-sorted chunks of this many batches: little padding, still shuffled (bucketing).
BUCKET_BATCHES = 50


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    curves: list[dict[str, Any]]
    labels: list[str]
    base_model: str
    method: str
    training_data_summary: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)  # full validation report
    out_dir: Path | None = None
    resumed_from_epoch: int = 0
    weights_digest: str = ""
    # The trained network (eval mode) and its tokenizer, for callers that go on using them.
    model: TextClassifier | None = field(default=None, repr=False)
    tokenizer: Any = field(default=None, repr=False)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _data_digest(train: LabelledTexts, valid: LabelledTexts) -> str:
    digest = hashlib.sha256()
    for part in (train, valid):
        for text, label in zip(part.texts, part.labels):
            digest.update(text.encode())
            digest.update(b"\0")
            digest.update(label.encode())
            digest.update(b"\n")
        digest.update(b"--")
    return digest.hexdigest()


def weights_digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _peak_memory_mb(device: str) -> dict[str, float]:
    figures = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device.startswith("cuda"):
        figures["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return figures


def _bucketed_batches(lengths: list[int], batch_size: int, seed: int, epoch: int,
                      context: DistributedContext) -> list[list[int]]:
    """This rank's batches for one epoch: shuffled, similar lengths together, same count per rank."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    batches: list[list[int]] = []
    chunk = batch_size * BUCKET_BATCHES
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk].tolist(), key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    batches = [batches[i] for i in rng.permutation(len(batches))]
    if context.enabled:
        per_rank = len(batches) // context.world_size
        if per_rank == 0:
            raise DataError(
                f"{len(lengths)} training examples make {len(batches)} batches: too few for "
                f"{context.world_size} processes; lower the batch size or the process count"
            )
        batches = batches[context.rank :: context.world_size][:per_rank]
    return batches


def _class_weights(labels: np.ndarray, n_labels: int, mode: str | None) -> torch.Tensor | None:
    if mode != "balanced":
        return None
    counts = np.bincount(labels, minlength=n_labels).astype(np.float64)
    weights = len(labels) / (n_labels * np.maximum(counts, 1.0))
    return torch.tensor(weights, dtype=torch.float32)


def _fit_logistic_head(features: np.ndarray, y: np.ndarray, n_labels: int, config: ClassifierConfig
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression on frozen embeddings: (weight [K, d], bias [K])."""
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(
        C=config.head_c, max_iter=3000, tol=1e-5,
        class_weight="balanced" if config.class_weights == "balanced" else None,
        random_state=config.seed,
    )
    classifier.fit(features, y)
    weight = np.zeros((n_labels, features.shape[1]), dtype=np.float32)
    bias = np.full(n_labels, -1e4, dtype=np.float32)  # labels absent from train: never predicted
    present = classifier.classes_
    if len(present) == 2 and classifier.coef_.shape[0] == 1:
        # sklearn keeps one row for two classes: logit(class1) - logit(class0) = w.x + b.
        weight[present[1]] = classifier.coef_[0] / 2
        weight[present[0]] = -classifier.coef_[0] / 2
        bias[present[1]] = classifier.intercept_[0] / 2
        bias[present[0]] = -classifier.intercept_[0] / 2
    else:
        weight[present] = classifier.coef_
        bias[present] = classifier.intercept_
    return weight, bias


_LAYER_NUMBER = re.compile(r"\.layers?\.(\d+)\.")


def _layer_count(encoder: nn.Module) -> int:
    numbers = [int(m.group(1)) for name, _ in encoder.named_parameters() if (m := _LAYER_NUMBER.search(name))]
    return max(numbers) + 1 if numbers else 0


def _layer_index(name: str, n_layers: int) -> int:
    """0 for the embeddings, i + 1 for transformer layer i, n_layers for anything above them."""
    match = _LAYER_NUMBER.search(name)
    if match:
        return int(match.group(1)) + 1
    return 0 if "embeddings" in name else n_layers


def _score_metric(record: dict[str, Any], metric: str) -> float:
    """Higher is better."""
    return -record["valid_loss"] if metric == "loss" else record[f"valid_{metric}"]


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
    except Exception as exc:
        full = disk_full_error(exc, path.parent)  # before the cleanup frees the space
        tmp.unlink(missing_ok=True)
        if full is not None:
            raise full from exc
        raise
    os.replace(tmp, path)


class _Trainer:
    """State of one training run (kept on an object so the steps read as short methods)."""

    def __init__(self, config: ClassifierConfig, train: LabelledTexts, valid: LabelledTexts | None,
                 progress: ProgressCallback, checkpoint_dir: Path | None,
                 on_epoch: Callable[[dict[str, Any]], None] | None) -> None:
        self.config = config.validate()
        self.plugins = build_plugins(config)
        self.context = init_distributed(config.device)
        device = select_device(config.device, config.cpu_threads)
        self.device_config = device
        self.device = device_for_rank(self.context, device.device)
        self.progress = progress if self.context.is_main else no_progress
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.on_epoch = on_epoch
        _seed_everything(config.seed)

        if valid is None:
            train, valid = stratified_split(train, test_fraction=config.valid_fraction, seed=config.seed)
        self.summary = {
            "train": train.summary(), "valid": valid.summary(),
            "valid_held_out_of_train": valid.source == train.source,
            "texts_sha256": texts_digest(train, valid),  # before augmentation: the texts given
        }
        for plugin in self.plugins:
            plugin.progress = self.progress  # long preparation (augmentation) reports and can be cancelled
            train = plugin.prepare_train(train, config)
        plugin_summaries = {p.name: p.summary() for p in self.plugins if p.summary()}
        if plugin_summaries:  # e.g. how many augmented rows were added: stored with the model
            self.summary["plugins"] = plugin_summaries
        if len(train) < 2:
            raise DataError(f"{train.source or 'training data'}: need at least 2 training examples")
        self.train, self.valid = train, valid
        self.labels = sorted(set(train.labels))
        if len(self.labels) < 2:
            raise DataError(f"{train.source or 'training data'}: need at least 2 labels, found {self.labels}")
        self.y_train = label_ids(train, self.labels)
        try:
            self.y_valid = label_ids(valid, self.labels)
        except DataError as exc:
            raise DataError(f"validation data has a label that training data lacks: {exc}") from exc

    # --- model --------------------------------------------------------------------------------
    def build_model(self) -> None:
        config = self.config
        base = load_base(config.base_model)
        self.source = base.source
        pooling = base.pooling if config.pooling == "auto" else config.pooling
        self.tokenizer = base.tokenizer
        normalize = base.normalize if config.normalize is None else config.normalize
        self.model = TextClassifier(base.encoder, len(self.labels), pooling=pooling, normalize=normalize,
                                    dropout=config.dropout).to(self.device)
        self.pad_id = self.tokenizer.pad_token_id or 0
        self.train_ids = tokenize(self.tokenizer, self.train.texts, config.max_length)
        self.valid_ids = tokenize(self.tokenizer, self.valid.texts, config.max_length)

    def embeddings(self, sequences: list[list[int]], progress: ProgressCallback) -> np.ndarray:
        self.model.eval()
        return batched_forward(self.model.embed, sequences, pad_id=self.pad_id,
                               batch_size=self.config.eval_batch_size, device=self.device,
                               autocast=self.device_config.autocast, progress=progress)

    def valid_logits(self) -> np.ndarray:
        self.model.eval()
        return batched_forward(self.model, self.valid_ids, pad_id=self.pad_id,
                               batch_size=self.config.eval_batch_size, device=self.device,
                               autocast=self.device_config.autocast)

    def fit_head(self, progress: ProgressCallback) -> dict[str, Any]:
        """Logistic regression on frozen embeddings, copied into the linear head."""
        started, cpu_started = time.perf_counter(), time.process_time()
        progress(0.0, "embedding the training texts")
        features = self.embeddings(self.train_ids, sub_progress(progress, 0, 90))
        progress(90.0, "fitting the logistic-regression head")
        weight, bias = _fit_logistic_head(features, self.y_train, len(self.labels), self.config)
        with torch.no_grad():
            self.model.head.weight.copy_(torch.from_numpy(weight))
            self.model.head.bias.copy_(torch.from_numpy(bias))
        train_probs = softmax(features @ weight.T + bias)
        train_loss = float(-np.log(np.clip(train_probs[np.arange(len(self.y_train)), self.y_train], 1e-12, 1)).mean())
        record = self.validation_record(epoch=0, train_loss=train_loss)
        record["seconds"] = round(time.perf_counter() - started, 2)
        record["cpu_seconds"] = round(time.process_time() - cpu_started, 2)
        log.info("logistic head: %s", json.dumps(record))
        progress(100.0, f"logistic head: valid accuracy {record['valid_accuracy']:.4f}")
        return record

    def validation_record(self, *, epoch: int, train_loss: float | None) -> dict[str, Any]:
        logits = self.valid_logits()
        report = report_from_logits(logits, self.y_valid, self.labels)
        return {"epoch": epoch, "train_loss": None if train_loss is None else round(train_loss, 5),
                "valid_loss": round(report["nll"], 5),
                "valid_accuracy": round(report["accuracy"], 5), "valid_macro_f1": round(report["macro_f1"], 5)}

    # --- fine-tuning --------------------------------------------------------------------------
    def prepare_finetuning(self) -> None:
        config = self.config
        if config.method == "lora":
            from peft import LoraConfig, get_peft_model

            present = {name.rsplit(".", 1)[-1] for name, _ in self.model.encoder.named_modules()}
            targets = [m for m in config.lora_target_modules if m in present]
            if not targets:
                raise UserError(
                    f"none of the LoRA target modules {list(config.lora_target_modules)} exist in "
                    f"{config.base_model}; pick from {sorted(present)[:20]}"
                )
            lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                              target_modules=targets, bias="none")
            with warnings.catch_warnings():  # peft calls an API transformers has deprecated
                warnings.filterwarnings("ignore", category=FutureWarning)
                self.model.encoder = get_peft_model(self.model.encoder, lora)
        if config.freeze_embeddings:
            for param in self.model.input_embeddings().parameters():
                param.requires_grad_(False)
        head_params = list(self.model.head.parameters())
        head_ids = {id(p) for p in head_params}
        n_layers = _layer_count(self.model.encoder)
        if config.train_top_layers:
            if config.train_top_layers > n_layers:
                raise ConfigError(f"train_top_layers is {config.train_top_layers} but {config.base_model} "
                                  f"has {n_layers} transformer layers")
            for name, param in self.model.encoder.named_parameters():
                if _layer_index(name, n_layers) <= n_layers - config.train_top_layers:
                    param.requires_grad_(False)
        grouped: dict[tuple[float, float], list] = {}
        for name, param in self.model.named_parameters():
            if not param.requires_grad or id(param) in head_ids:
                continue
            # Layer-wise decay: lower layers hold general features and move less.
            depth = _layer_index(name, n_layers)
            lr = config.learning_rate * config.layer_lr_decay ** (n_layers - depth)
            no_decay = param.ndim < 2 or "norm" in name.lower()
            grouped.setdefault((lr, 0.0 if no_decay else config.weight_decay), []).append(param)
        groups = [{"params": params, "lr": lr, "weight_decay": wd} for (lr, wd), params in grouped.items()]
        groups.append({"params": head_params, "lr": config.head_learning_rate, "weight_decay": config.weight_decay})
        self.optimizer = torch.optim.AdamW(groups)
        steps_per_epoch = len(_bucketed_batches([len(s) for s in self.train_ids], config.batch_size,
                                                config.seed, 0, self.context))
        self.steps_per_epoch = steps_per_epoch
        total = steps_per_epoch * config.epochs
        warmup = round(config.warmup_ratio * total)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total - step) / max(1, total - warmup))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        weights = _class_weights(self.y_train, len(self.labels), config.class_weights)
        self.loss_fn = nn.CrossEntropyLoss(
            weight=weights.to(self.device) if weights is not None else None,
            label_smoothing=config.label_smoothing,
        )
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        names = {id(p) for p in self.trainable}
        return {k: v.detach().cpu().clone() for k, v in self.model.named_parameters() if id(v) in names}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        missing = self.model.load_state_dict(state, strict=False)
        if missing.unexpected_keys:
            raise UserError(f"checkpoint does not fit this model: {missing.unexpected_keys[:3]}")

    def resume_key(self) -> dict[str, Any]:
        return {"config": self.config.resume_key(), "labels": self.labels,
                "data": _data_digest(self.train, self.valid), "world_size": self.context.world_size}

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The last checkpoint of this very run (same options, data and labels), if there is one."""
        if self.checkpoint_dir is None or not (self.checkpoint_dir / CHECKPOINT_FILE).is_file():
            return None
        state = torch.load(self.checkpoint_dir / CHECKPOINT_FILE, map_location="cpu", weights_only=False)
        if state.get("resume_key") != self.resume_key():
            log.warning("checkpoint in %s is from another configuration or data; starting afresh",
                        self.checkpoint_dir)
            return None
        return state

    def apply_checkpoint(self, state: dict[str, Any]) -> None:
        self.load_trainable_state(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        random.setstate(state["rng"]["python"])
        np.random.set_state(state["rng"]["numpy"])
        torch.set_rng_state(state["rng"]["torch"])
        log.info("resuming from %s after epoch %d", self.checkpoint_dir, state["epoch"])

    def save_checkpoint(self, *, epoch: int, curves: list, best: dict, bad_epochs: int,
                        new_best: bool) -> None:
        if self.checkpoint_dir is None or not self.context.is_main:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        if new_best or not (self.checkpoint_dir / BEST_FILE).is_file():
            _save_atomic(best["state"], self.checkpoint_dir / BEST_FILE)
        _save_atomic({
            "resume_key": self.resume_key(), "epoch": epoch, "model": self.trainable_state(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "curves": curves, "best": {k: v for k, v in best.items() if k != "state"},
            "bad_epochs": bad_epochs,
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
        }, self.checkpoint_dir / CHECKPOINT_FILE)

    def finetune(self, head_record: dict[str, Any], progress: ProgressCallback,
                 resumed: dict[str, Any] | None = None) -> tuple[list, dict, int]:
        config, context = self.config, self.context
        curves = [head_record]
        best = {"epoch": 0, "score": _score_metric(head_record, config.early_stopping_metric),
                "state": self.trainable_state()}
        bad_epochs, start_epoch = 0, 1
        if resumed is not None:
            self.apply_checkpoint(resumed)
            curves, bad_epochs, start_epoch = resumed["curves"], resumed["bad_epochs"], resumed["epoch"] + 1
            best = {**resumed["best"], "state": torch.load(self.checkpoint_dir / BEST_FILE, map_location="cpu",
                                                           weights_only=False)
                    if (self.checkpoint_dir / BEST_FILE).is_file() else self.trainable_state()}
        self.resumed_from_epoch = start_epoch - 1
        network: nn.Module = self.model
        if context.enabled:
            from torch.nn.parallel import DistributedDataParallel

            network = DistributedDataParallel(
                self.model, device_ids=[context.local_rank] if self.device.startswith("cuda") else None
            )
        lengths = [len(s) for s in self.train_ids]
        total_steps = self.steps_per_epoch * config.epochs
        for epoch in range(start_epoch, config.epochs + 1):
            started, cpu_started = time.perf_counter(), time.process_time()
            network.train()
            batches = _bucketed_batches(lengths, config.batch_size, config.seed, epoch, context)
            loss_sum, loss_n = 0.0, 0
            for step, batch in enumerate(batches, start=1):
                input_ids, attention_mask = pad_batch([self.train_ids[i] for i in batch], self.pad_id)
                input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
                labels = torch.as_tensor(self.y_train[batch], device=self.device)
                with self.device_config.autocast():
                    logits = network(input_ids=input_ids, attention_mask=attention_mask)
                    loss = self.loss_fn(logits.float(), labels)
                    if self.plugins:
                        step_view = TrainingStep(network, input_ids, attention_mask, labels, logits, loss,
                                                 self.loss_fn, epoch, step)
                        for plugin in self.plugins:
                            loss = plugin.training_loss(step_view)
                            step_view.loss = loss
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(self.trainable, config.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                loss_sum += float(loss.detach())
                loss_n += 1
                done = (epoch - 1) * self.steps_per_epoch + step
                progress(100.0 * done / total_steps,
                         f"epoch {epoch}/{config.epochs} · step {step}/{len(batches)} · loss {loss_sum / loss_n:.4f}")
            train_seconds = time.perf_counter() - started
            record = self.validation_record(epoch=epoch, train_loss=loss_sum / max(loss_n, 1))
            # Wall time depends on what else runs; CPU time (all threads) on the work itself.
            record["seconds"] = round(train_seconds, 2)
            record["cpu_seconds"] = round(time.process_time() - cpu_started, 2)
            record["lr"] = self.scheduler.get_last_lr()[0]
            score = _score_metric(record, config.early_stopping_metric)
            new_best = score > best["score"]
            bad_epochs = 0 if new_best else bad_epochs + 1
            stop = bool(config.early_stopping_patience) and bad_epochs >= config.early_stopping_patience
            new_best, stop = context.broadcast_flags(new_best, stop)  # rank 0 decides for all
            if new_best:
                best = {"epoch": epoch, "score": score, "state": self.trainable_state()}
            curves.append(record)
            log.info("epoch %d: %s", epoch, json.dumps(record))
            for plugin in self.plugins:
                plugin.on_epoch_end(epoch, record)
            self.save_checkpoint(epoch=epoch, curves=curves, best=best, bad_epochs=bad_epochs, new_best=new_best)
            if self.on_epoch is not None and context.is_main:
                self.on_epoch(record)
            if stop:
                log.info("early stopping after epoch %d (best epoch %d)", epoch, best["epoch"])
                progress(100.0, f"stopped early after epoch {epoch}; best epoch {best['epoch']}")
                break
        if config.restore_best:
            self.load_trainable_state(best["state"])
        else:  # the last epoch is the model; "best" is only reported
            best = {**best, "epoch": curves[-1]["epoch"]}
        return curves, best, max(c["epoch"] for c in curves)

    # --- artifact ------------------------------------------------------------------------------
    def write_artifact(self, out_dir: Path, *, temperature: float, metrics: dict, curves: list,
                       report: dict) -> None:
        config = self.config
        out_dir.mkdir(parents=True, exist_ok=True)
        if any(out_dir.iterdir()):
            raise UserError(f"output folder {out_dir} is not empty")
        pooling, normalize = self.model.pooling, self.model.normalize
        if config.method == "full":
            self.model.encoder.save_pretrained(out_dir / ENCODER_DIR, safe_serialization=True)
        elif config.method == "lora":
            self.model.encoder.save_pretrained(out_dir / ADAPTER_DIR)
        save_head(self.model, out_dir)
        self.tokenizer.save_pretrained(out_dir / TOKENIZER_DIR)
        write_artifact_config(out_dir, ArtifactConfig(
            method=config.method, base_model=config.base_model, labels=self.labels, pooling=pooling,
            normalize=normalize, max_length=config.max_length, temperature=temperature,
            training_config=config.to_dict(), extra={},
        ))
        for name, payload in (("metrics.json", metrics), ("curves.json", curves), ("evaluation.json", report),
                              ("training_data.json", self.summary)):
            (out_dir / name).write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))


def train_classifier(
    config: ClassifierConfig,
    train: LabelledTexts,
    out_dir: Path | str | None,
    *,
    valid: LabelledTexts | None = None,
    progress: ProgressCallback = no_progress,
    checkpoint_dir: Path | str | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train a classifier on `train` and write its artifact folder to `out_dir`.

    `valid` drives early stopping and calibration (default: a stratified share of train).
    With `checkpoint_dir`, a checkpoint is written after every epoch and a run with the same
    config and data resumes from it. `on_epoch(record)` sees each epoch's curve record (and
    may raise to stop, e.g. optuna's pruning). `out_dir=None` trains without writing (DDP ranks
    other than 0 write nothing anyway). Raises UserError for bad data or options.
    """
    started = time.perf_counter()
    progress(0.0, "preparing data")
    trainer = _Trainer(config, train, valid, progress, Path(checkpoint_dir) if checkpoint_dir else None, on_epoch)
    config = trainer.config
    report_progress = trainer.progress
    report_progress(1.0, f"loading {config.base_model}")
    trainer.build_model()
    head_share = 85.0 if config.method == "head" else 10.0
    resumed = trainer.load_checkpoint() if config.method != "head" else None
    if resumed is not None:
        head_record = resumed["curves"][0]  # the head's weights come back with the checkpoint
    elif config.method == "head" or config.init_head == "logreg":
        head_record = trainer.fit_head(sub_progress(report_progress, 3.0, 3.0 + head_share))
    else:
        head_record = None
    if head_record is not None and on_epoch is not None and trainer.context.is_main:
        on_epoch(head_record)
    if config.method == "head":
        curves, best_epoch, epochs_run, trainer.resumed_from_epoch = [head_record], 0, 0, 0
    else:
        if head_record is None:
            head_record = trainer.validation_record(epoch=0, train_loss=None)
        trainer.prepare_finetuning()
        curves, best, epochs_run = trainer.finetune(head_record, sub_progress(report_progress, 3.0 + head_share, 95.0),
                                                    resumed)
        best_epoch = best["epoch"]

    report_progress(95.0, "calibrating on the validation split")
    logits = trainer.valid_logits()
    temperature = 1.0
    if config.calibrate:
        from ..evaluation import fit_temperature

        temperature = fit_temperature(logits, trainer.y_valid)
    report = report_from_logits(logits, trainer.y_valid, trainer.labels, temperature)
    epoch_seconds = [c["seconds"] for c in curves if c.get("epoch", 0) >= 1 and "seconds" in c]
    epoch_cpu = [c["cpu_seconds"] for c in curves if c.get("epoch", 0) >= 1 and "cpu_seconds" in c]
    metrics = {
        "method": config.method,
        "accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "ece": report["ece"],
        "ece_uncalibrated": report["ece_uncalibrated"], "temperature": temperature, "nll": report["nll"],
        "n_train": len(trainer.train), "n_valid": len(trainer.valid), "n_labels": len(trainer.labels),
        "best_epoch": best_epoch, "epochs_run": epochs_run,
        "head_seconds": curves[0].get("seconds") if curves and curves[0].get("epoch") == 0 else None,
        "seconds_per_epoch": round(sum(epoch_seconds) / len(epoch_seconds), 2) if epoch_seconds else None,
        "cpu_seconds_per_epoch": round(sum(epoch_cpu) / len(epoch_cpu), 2) if epoch_cpu else None,
        "train_seconds": round(time.perf_counter() - started, 2),
        "device": trainer.device, "world_size": trainer.context.world_size,
        **_peak_memory_mb(trainer.device),
    }
    out_path = Path(out_dir) if out_dir is not None else None
    if out_path is not None and trainer.context.is_main:
        report_progress(97.0, "writing the model")
        trainer.write_artifact(out_path, temperature=temperature, metrics=metrics, curves=curves, report=report)
    trainer.context.barrier()
    if trainer.checkpoint_dir is not None and trainer.context.is_main and trainer.checkpoint_dir.exists():
        import shutil

        shutil.rmtree(trainer.checkpoint_dir, ignore_errors=True)  # finished: nothing to resume
    report_progress(100.0, f"valid accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}")
    return TrainResult(
        metrics=metrics, curves=curves, labels=trainer.labels, base_model=config.base_model,
        method=config.method, training_data_summary={**trainer.summary, "label_counts": label_counts(trainer.train)},
        report=report, out_dir=out_path if trainer.context.is_main else None,
        resumed_from_epoch=trainer.resumed_from_epoch, weights_digest=weights_digest(trainer.model),
        model=trainer.model.eval(), tokenizer=trainer.tokenizer,
    )
