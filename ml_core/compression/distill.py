"""Knowledge distillation into a smaller student, and the short fine-tune that pruning needs.

The student starts as a copy of the teacher with every other transformer layer (the last one
always kept: after fine-tuning it carries the most task-specific features), as DistilBERT
does. It is trained on the teacher's soft labels (softened by a temperature T, KL divergence
scaled by T², Hinton et al. 2015) plus the gold labels:

    loss = soft_weight · T² · KL(softmax(teacher / T) ‖ softmax(student / T)) + (1 − soft_weight) · CE(student, gold)

The same loop, with soft_weight 0, is the recovery fine-tune after pruning.
"""
from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import DataError, LabelledTexts, stratified_split
from ..errors import UserError
from ..evaluation import fit_temperature, label_ids
from ..progress import ProgressCallback, no_progress, sub_progress
from ..training.model import (
    ENCODER_DIR,
    TOKENIZER_DIR,
    ArtifactConfig,
    TextClassifier,
    batched_forward,
    pad_batch,
    save_head,
    tokenize,
    write_artifact_config,
)

log = logging.getLogger(__name__)


@dataclass
class StudentTraining:
    """How a student (distilled or pruned) is trained."""

    epochs: int = 3
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    batch_size: int = 32
    temperature: float = 2.0  # softens the teacher's distribution
    soft_weight: float = 0.5  # share of the loss on the teacher's soft labels (0: gold labels only)
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    seed: int = 42
    calibration_fraction: float = 0.1  # held out of the training texts to refit the temperature

    def validate(self) -> StudentTraining:
        if self.epochs < 1:
            raise UserError(f"student epochs must be at least 1, not {self.epochs}")
        if not 0.0 <= self.soft_weight <= 1.0:
            raise UserError(f"soft_weight must be in [0, 1], not {self.soft_weight}")
        if self.temperature <= 0:
            raise UserError("the distillation temperature must be positive")
        if self.learning_rate <= 0 or self.head_learning_rate <= 0:
            raise UserError("learning rates must be positive")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def transformer_layers(model: TextClassifier) -> nn.ModuleList:
    """The encoder's list of transformer layers (BERT-style encoders: encoder.encoder.layer)."""
    layers = getattr(getattr(model.encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise UserError(f"layer pruning and distillation support BERT-style encoders; "
                        f"{type(model.encoder).__name__} has no encoder.layer list")
    return layers


def keep_layers(model: TextClassifier, indices: Sequence[int]) -> TextClassifier:
    """Keep only the transformer layers at `indices` (in place); the config follows."""
    layers = transformer_layers(model)
    indices = sorted({int(i) for i in indices})
    if not indices or indices[0] < 0 or indices[-1] >= len(layers):
        raise UserError(f"layers to keep must be between 0 and {len(layers) - 1}, not {indices}")
    kept = nn.ModuleList([layers[i] for i in indices])
    for new_index, layer in enumerate(kept):
        attention = getattr(getattr(layer, "attention", None), "self", None)
        if attention is not None and hasattr(attention, "layer_idx"):
            attention.layer_idx = new_index
    model.encoder.encoder.layer = kept
    model.encoder.config.num_hidden_layers = len(indices)
    return model


def every_other_layer(n_layers: int) -> list[int]:
    """[1, 3, 5] of 6: every other layer, ending with the last."""
    return list(range(n_layers - 1, -1, -2))[::-1]


def teacher_logits(model: TextClassifier, sequences: list[list[int]], pad_id: int, batch_size: int = 128) -> np.ndarray:
    model.eval()
    return batched_forward(model, sequences, pad_id=pad_id, batch_size=batch_size, device="cpu")


def _batches(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffled batches of similar length (little padding), in random order."""
    order = rng.permutation(len(lengths))
    batches = []
    chunk = batch_size * 50
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk].tolist(), key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def train_student(model: TextClassifier, sequences: list[list[int]], y: np.ndarray, *, pad_id: int,
                  config: StudentTraining, soft_targets: np.ndarray | None = None,
                  progress: ProgressCallback = no_progress) -> list[dict[str, Any]]:
    """Fine-tune `model` in place on gold labels, plus the teacher's logits when given. Returns curves."""
    config.validate()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    head_ids = {id(p) for p in model.head.parameters()}
    encoder_params = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    optimizer = torch.optim.AdamW([
        {"params": encoder_params, "lr": config.learning_rate},
        {"params": list(model.head.parameters()), "lr": config.head_learning_rate},
    ], weight_decay=config.weight_decay)
    lengths = [len(s) for s in sequences]
    steps_per_epoch = math.ceil(len(sequences) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = int(config.warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / (warmup + 1) if step < warmup else max(0.0, (total - step) / max(1, total - warmup)))
    soft = torch.as_tensor(soft_targets, dtype=torch.float32) if soft_targets is not None else None
    labels = torch.as_tensor(y, dtype=torch.long)
    temperature, alpha = config.temperature, config.soft_weight if soft is not None else 0.0
    curves, done = [], 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        loss_sum, n = 0.0, 0
        for batch in _batches(lengths, config.batch_size, rng):
            input_ids, attention_mask = pad_batch([sequences[i] for i in batch], pad_id)
            logits = model(input_ids=input_ids, attention_mask=attention_mask)
            loss = nn.functional.cross_entropy(logits, labels[batch])
            if alpha > 0:
                kl = nn.functional.kl_div(nn.functional.log_softmax(logits / temperature, dim=-1),
                                          nn.functional.softmax(soft[batch] / temperature, dim=-1),
                                          reduction="batchmean") * temperature**2
                loss = alpha * kl + (1 - alpha) * loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder_params + list(model.head.parameters()), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach())
            n += 1
            done += 1
            progress(100.0 * done / total, f"epoch {epoch}/{config.epochs} · loss {loss_sum / n:.4f}")
        curves.append({"epoch": epoch, "train_loss": round(loss_sum / max(n, 1), 5)})
        log.info("student epoch %d: loss %.4f", epoch, loss_sum / max(n, 1))
    model.eval()
    return curves


@dataclass
class StudentResult:
    model: TextClassifier
    temperature: float
    curves: list[dict[str, Any]]
    info: dict[str, Any]


def fit_student(student: TextClassifier, tokenizer, source: ArtifactConfig, train: LabelledTexts, *,
                config: StudentTraining, teacher: TextClassifier | None = None,
                progress: ProgressCallback = no_progress) -> tuple[list[dict[str, Any]], float]:
    """Train `student` on `train` (soft labels from `teacher` when given); refit its temperature.

    A stratified share of `train` is held out to refit the calibration temperature (the
    student's confidence differs from the teacher's); when the data is too small for that, the
    teacher's temperature is kept.
    """
    config.validate()
    try:
        fit, held_out = stratified_split(train, test_fraction=config.calibration_fraction, seed=config.seed)
    except DataError:
        fit, held_out = train, None
    pad_id = tokenizer.pad_token_id or 0
    sequences = tokenize(tokenizer, fit.texts, source.max_length)
    y = label_ids(fit, source.labels)
    soft = None
    if teacher is not None and config.soft_weight > 0:
        progress(0.0, "teacher's soft labels")
        soft = teacher_logits(teacher, sequences, pad_id)
    curves = train_student(student, sequences, y, pad_id=pad_id, config=config, soft_targets=soft,
                           progress=sub_progress(progress, 5.0, 97.0))
    temperature = source.temperature
    if held_out is not None and len(held_out):
        logits = teacher_logits(student, tokenize(tokenizer, held_out.texts, source.max_length), pad_id)
        temperature = fit_temperature(logits, label_ids(held_out, source.labels))
    progress(100.0, "student trained")
    return curves, temperature


def distill(teacher: TextClassifier, tokenizer, source: ArtifactConfig, train: LabelledTexts, *,
            layers: Sequence[int] | None = None, config: StudentTraining | None = None,
            progress: ProgressCallback = no_progress) -> StudentResult:
    """A student with `layers` of the teacher (default: every other one), trained on soft + gold labels."""
    config = (config or StudentTraining()).validate()
    n_layers = len(transformer_layers(teacher))
    layers = sorted(layers) if layers else every_other_layer(n_layers)
    student = keep_layers(copy.deepcopy(teacher), layers)
    curves, temperature = fit_student(student, tokenizer, source, train, config=config, teacher=teacher,
                                      progress=progress)
    info = {"method": "distill", "teacher_layers": n_layers, "layers_kept": layers,
            "training": config.to_dict(), "curves": curves}
    return StudentResult(student, temperature, curves, info)


def save_classifier(model: TextClassifier, tokenizer, source: ArtifactConfig, out_dir: Path | str, *,
                    temperature: float, compression: dict[str, Any]) -> Path:
    """Write `model` as a complete classifier artifact (method `full`) that load_classifier reads."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(out_dir / ENCODER_DIR, safe_serialization=True)
    save_head(model, out_dir)
    tokenizer.save_pretrained(out_dir / TOKENIZER_DIR)
    extra = {k: v for k, v in source.extra.items() if k != "compression"}
    write_artifact_config(out_dir, ArtifactConfig(
        method="full", base_model=source.base_model, labels=list(source.labels), pooling=source.pooling,
        normalize=source.normalize, max_length=source.max_length, temperature=float(temperature),
        training_config=source.training_config, extra={**extra, "compression": compression},
    ))
    return out_dir
