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
import json
import logging
import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..backbone import DEFAULT_BACKBONE
from ..data import DataError, LabelledTexts, stratified_split
from ..errors import UserError
from ..evaluation import fit_temperature, label_ids, report_from_logits
from ..numeric import softmax
from ..options import options_from_dict
from ..progress import ProgressCallback, no_progress, sub_progress
from ..training.model import (
    CONFIG_FILE,
    ENCODER_DIR,
    TOKENIZER_DIR,
    ArtifactConfig,
    TextClassifier,
    batched_forward,
    pad_batch,
    read_artifact_config,
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


def teacher_logits(model: TextClassifier, sequences: list[list[int]], pad_id: int, batch_size: int = 128, *,
                   device: str = "cpu", autocast=None, progress: ProgressCallback | None = None) -> np.ndarray:
    model.eval()
    return batched_forward(model, sequences, pad_id=pad_id, batch_size=batch_size, device=device,
                           autocast=autocast, progress=progress)


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
                  config: StudentTraining, soft_targets: np.ndarray | None = None, device: str = "cpu",
                  autocast=None, progress: ProgressCallback = no_progress) -> list[dict[str, Any]]:
    """Fine-tune `model` (on `device`) in place on gold labels, plus the teacher's logits when given.

    A label of -1 in `y` means "no gold label" (an unlabelled transfer text): that row adds only
    the soft term, so every row weighs the same (the hard term is summed over the gold rows and
    divided by the batch size: with all rows labelled, the plain mean). Returns the curves.
    """
    config.validate()
    if soft_targets is None and len(y) and int(np.min(y)) < 0:
        raise UserError("texts without a gold label need the teacher's soft labels (soft_targets)")
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
    soft = torch.as_tensor(soft_targets, dtype=torch.float32, device=device) if soft_targets is not None else None
    labels = torch.as_tensor(y, dtype=torch.long, device=device)
    temperature, alpha = config.temperature, config.soft_weight if soft is not None else 0.0
    curves, done = [], 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        loss_sum, n = 0.0, 0
        for batch in _batches(lengths, config.batch_size, rng):
            input_ids, attention_mask = pad_batch([sequences[i] for i in batch], pad_id)
            with autocast() if autocast else nullcontext():
                logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).float()
            gold_labels = labels[batch]
            gold = gold_labels >= 0
            loss = nn.functional.cross_entropy(logits[gold], gold_labels[gold], reduction="sum") / len(batch)
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


def distill_classifier(teacher: TextClassifier, tokenizer, source: ArtifactConfig, train: LabelledTexts, *,
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
    extra = {k: v for k, v in source.extra.items() if k != "compression"}
    return write_full_classifier(model, tokenizer, out_dir, ArtifactConfig(
        method="full", base_model=source.base_model, labels=list(source.labels), pooling=source.pooling,
        normalize=source.normalize, max_length=source.max_length, temperature=float(temperature),
        training_config=source.training_config, extra={**extra, "compression": compression},
    ))


def write_full_classifier(model: TextClassifier, tokenizer, out_dir: Path | str, config: ArtifactConfig) -> Path:
    """The encoder, head, tokenizer and classifier.json of a `full` classifier artifact."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(out_dir / ENCODER_DIR, safe_serialization=True)
    save_head(model, out_dir)
    tokenizer.save_pretrained(out_dir / TOKENIZER_DIR)
    write_artifact_config(out_dir, config)
    return out_dir


# --- across architectures: a trained classifier teaches a fresh student on another backbone --------
#
# The teacher (any classifier folder: e.g. all-mpnet-base-v2 fine-tuned on the labelled set)
# labels a transfer set with its logits: the labelled training texts plus unlabelled in-domain
# texts (their own labels, if any, unused). The student (a new classifier on --base, default the
# bundled MiniLM) learns from the same loss as above, where an unlabelled text adds only the soft
# term. Teacher and student tokenise separately, so their vocabularies and sizes may differ.

@dataclass
class CrossDistillConfig:
    """How a student on another backbone learns from a trained teacher (`distill_across`)."""

    student_base: str = DEFAULT_BACKBONE
    max_length: int = 128  # the student's; the teacher keeps its own
    device: str = "auto"  # auto | cpu | cuda | cuda:N (teacher and student both)
    cpu_threads: int = 0
    teacher_batch_size: int = 64
    # The student's head starts from a logistic regression on its frozen embeddings (gold labels,
    # else the teacher's), as train-classifier does; "random" starts from random weights.
    init_head: str = "logreg"
    head_c: float = 10.0
    max_unlabelled: int = 0  # use at most this many unlabelled texts (a seeded sample); 0: all
    # Keep only these transformer layers of the student's backbone (e.g. (1, 3, 5) of MiniLM's 6):
    # a shallower student serves faster. Empty: all of them.
    student_layers: tuple[int, ...] = ()
    # epochs, learning rates, temperature, soft_weight, seed; calibration_fraction is the share of
    # the labelled texts held out to measure the teacher and calibrate the student.
    training: StudentTraining = field(default_factory=StudentTraining)

    def validate(self) -> CrossDistillConfig:
        if not str(self.student_base or "").strip():
            raise UserError("the student's backbone (student_base / --base) must be named")
        if not 8 <= self.max_length <= 8192:
            raise UserError(f"max_length must be between 8 and 8192, not {self.max_length}")
        if self.teacher_batch_size < 1:
            raise UserError("teacher_batch_size must be at least 1")
        if self.init_head not in ("logreg", "random"):
            raise UserError(f"init_head must be logreg or random, not {self.init_head!r}")
        if self.head_c <= 0:
            raise UserError("head_c must be positive")
        if self.max_unlabelled < 0:
            raise UserError("max_unlabelled must be 0 (all) or more")
        try:
            self.student_layers = tuple(int(i) for i in self.student_layers)
        except (TypeError, ValueError) as exc:
            raise UserError(f"student_layers must be layer numbers such as 1,3,5, not {self.student_layers!r}") from exc
        if any(i < 0 for i in self.student_layers) or len(set(self.student_layers)) != len(self.student_layers):
            raise UserError(f"student_layers must be distinct layer numbers from 0, not {list(self.student_layers)}")
        self.training.validate()
        if not 0.0 < self.training.calibration_fraction < 0.5:
            raise UserError("calibration_fraction (the held-out share of the labelled texts) must be in (0, 0.5)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrossDistillConfig:
        values = dict(data or {})
        if isinstance(values.get("training"), dict):
            values["training"] = options_from_dict(StudentTraining, values["training"], error=UserError,
                                                   unknown="unknown student training option(s)")
        return options_from_dict(cls, values, error=UserError, unknown="unknown distillation option(s)")


@dataclass
class CrossDistillResult:
    metrics: dict[str, Any]
    distillation: dict[str, Any]  # what classifier.json records under "distillation"
    curves: list[dict[str, Any]]
    out_dir: Path | None
    model: TextClassifier = field(repr=False)
    tokenizer: Any = field(repr=False)


def read_teacher(folder: Path | str) -> ArtifactConfig:
    """The teacher's classifier.json, with the problems a user can fix named."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise UserError(f"teacher folder {folder} does not exist; give a classifier folder written by train-classifier")
    if not folder.is_dir():
        raise UserError(f"teacher {folder} is not a folder; give a classifier folder written by train-classifier")
    try:
        config = read_artifact_config(folder)
    except KeyError as exc:
        raise UserError(f"teacher {folder}: its {CONFIG_FILE} has no {exc.args[0]!r}; retrain or repair it") from exc
    if len(config.labels) < 2:
        raise UserError(f"teacher {folder}: its {CONFIG_FILE} lists {len(config.labels)} label(s) "
                        f"({config.labels}); a teacher needs at least 2 labels")
    return config


def _check_labels(data: LabelledTexts | None, teacher_labels: Sequence[str], what: str) -> None:
    if data is None:
        return
    unknown = sorted(set(data.labels) - set(teacher_labels))
    if unknown:
        raise UserError(f"{what} ({data.source or 'data'}) has label(s) the teacher does not know: "
                        f"{', '.join(map(repr, unknown))}; the teacher's labels are {list(teacher_labels)} "
                        "(use --label-map to rename)")


def _transfer_unlabelled(unlabelled: Sequence[str], exclude: set[str], limit: int, seed: int) -> tuple[list[str], int]:
    """Unlabelled texts, stripped, without duplicates or texts that are labelled or held out."""
    seen, texts = set(exclude), []
    for text in unlabelled:
        text = str(text).strip()
        if text and text not in seen:
            seen.add(text)
            texts.append(text)
    dropped = len(unlabelled) - len(texts)
    if limit and len(texts) > limit:
        keep = sorted(np.random.default_rng(seed).choice(len(texts), size=limit, replace=False).tolist())
        texts = [texts[i] for i in keep]
    return texts, dropped


def _teacher_scores(folder: Path, teacher_config: ArtifactConfig, labels: Sequence[str],
                    parts: dict[str, Sequence[str]], config: CrossDistillConfig, device,
                    progress: ProgressCallback) -> dict[str, np.ndarray]:
    """One teacher's logits for each part, columns in `labels` order (an ensemble's members may
    list their labels in another order); progress is reported on the part named transfer."""
    from ..training.model import load_classifier

    teacher, tokenizer, _ = load_classifier(folder, device=device.device)
    pad_id = tokenizer.pad_token_id or 0
    columns = [list(teacher_config.labels).index(label) for label in labels]
    return {part: teacher_logits(teacher, tokenize(tokenizer, list(texts), teacher_config.max_length), pad_id,
                                 config.teacher_batch_size, device=device.device, autocast=device.autocast,
                                 progress=progress if part == "transfer" else None)[:, columns]
            for part, texts in parts.items()}


def _teacher_record(members: list[dict[str, Any]]) -> dict[str, Any]:
    """What classifier.json records of the teacher: itself, or an ensemble and its members."""
    if len(members) == 1:
        return {key: members[0][key] for key in ("path", "base_model", "method", "max_length")}
    return {"path": " + ".join(member["path"] for member in members),
            "base_model": " + ".join(member["base_model"] for member in members),
            "method": " + ".join(sorted({member["method"] for member in members})),
            "max_length": max(member["max_length"] for member in members),
            "ensemble": "mean of the members' calibrated probabilities", "members": members}


def _accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return round(float((logits.argmax(axis=1) == y).mean()), 5) if len(y) else float("nan")


def teacher_folders(teacher_dir: Path | str | Sequence[Path | str]) -> list[Path]:
    """One folder, or several (an ensemble), as a list of distinct paths."""
    folders = [teacher_dir] if isinstance(teacher_dir, (str, Path)) else list(teacher_dir)
    paths = [Path(folder).expanduser() for folder in folders]
    if not paths:
        raise UserError("name at least one teacher folder")
    if len({path.resolve() for path in paths}) != len(paths):
        raise UserError(f"a teacher folder is named twice: {[str(path) for path in paths]}")
    return paths


def read_teachers(folders: Sequence[Path]) -> list[ArtifactConfig]:
    """Each teacher's classifier.json; an ensemble's members must know the same labels."""
    configs = [read_teacher(folder) for folder in folders]
    first = sorted(configs[0].labels)
    for folder, config in zip(folders[1:], configs[1:]):
        if sorted(config.labels) != first:
            raise UserError(f"teacher {folder} knows the labels {sorted(config.labels)}, teacher {folders[0]} "
                            f"knows {first}: the members of an ensemble must know the same labels")
    return configs


def ensemble_logits(member_logits: Sequence[np.ndarray], temperatures: Sequence[float]) -> np.ndarray:
    """One teacher's logits as they are; several teachers' as the log of the mean of their
    calibrated probabilities (each member's logits divided by its own fitted temperature, so an
    over-confident member does not outvote the others)."""
    if len(member_logits) == 1:
        return member_logits[0]
    mean = np.mean([softmax(z, t if t and t > 0 else 1.0) for z, t in zip(member_logits, temperatures)], axis=0)
    return np.log(np.clip(mean, 1e-12, 1.0)).astype(np.float32)


def distill_across(teacher_dir: Path | str | Sequence[Path | str], train: LabelledTexts,
                   out_dir: Path | str | None = None, *,
                   unlabelled: Sequence[str] = (), unlabelled_sources: Sequence[str] = (),
                   eval_data: LabelledTexts | None = None, config: CrossDistillConfig | None = None,
                   progress: ProgressCallback = no_progress) -> CrossDistillResult:
    """Distil the classifier in `teacher_dir` (or an ensemble: several folders, their calibrated
    probabilities averaged; see `ensemble_logits`) into a new classifier on `config.student_base`.

    1. hold out `training.calibration_fraction` of `train` (stratified; same split as
       train-classifier's with the same fraction and seed) to measure the teacher and calibrate
       the student;
    2. the teacher scores the transfer set (the rest of `train`, then `unlabelled`, deduplicated
       and without texts of the labelled or evaluation data) — its logits are the soft labels;
    3. the student (head from a logistic regression on its frozen embeddings) is trained with
       soft_weight · T² · KL(teacher_T ‖ student_T) + (1 − soft_weight) · CE(gold), the gold term
       on the labelled texts only;
    4. its temperature is fitted on the held-out split; with `out_dir`, a `full` classifier folder
       is written whose classifier.json records the teacher, the transfer set and both accuracies.

    `eval_data` (a labelled test set) is scored by teacher and student too. Raises UserError for
    a missing or unusable teacher, labels the teacher lacks, or options that cannot work.
    """
    from ..backbone import select_device
    from ..training.config import ClassifierConfig
    from ..training.model import load_base
    from ..training.trainer import _fit_logistic_head

    config = (config or CrossDistillConfig()).validate()
    training = config.training
    teacher_dirs = teacher_folders(teacher_dir)
    teacher_configs = read_teachers(teacher_dirs)
    labels = list(teacher_configs[0].labels)
    _check_labels(train, labels, "training data")
    _check_labels(eval_data, labels, "evaluation data")
    if len(train) < 2:
        raise UserError(f"{train.source or 'training data'}: need at least 2 labelled texts")
    if unlabelled and training.soft_weight == 0:
        raise UserError("soft_weight 0 trains on gold labels only: the unlabelled texts would be ignored")
    device = select_device(config.device, config.cpu_threads)
    torch.manual_seed(training.seed)

    try:
        fit, held = stratified_split(train, test_fraction=training.calibration_fraction, seed=training.seed)
    except DataError:
        fit, held = train, None
        log.warning("too few labelled texts to hold some out: the teacher is not measured on them, "
                    "the student is not calibrated")
    exclude = set(fit.texts) | set(held.texts if held else ()) | set(eval_data.texts if eval_data else ())
    extra_texts, dropped = _transfer_unlabelled(unlabelled, exclude, config.max_unlabelled, training.seed)
    transfer = list(fit.texts) + extra_texts
    y = np.concatenate([label_ids(fit, labels), np.full(len(extra_texts), -1, dtype=np.int64)])

    # --- the teacher(s): soft labels for the transfer set, accuracy where gold labels exist -------
    y_fit = y[: len(fit)]
    y_held = label_ids(held, labels) if held is not None else None
    y_eval = label_ids(eval_data, labels) if eval_data is not None else None

    def accuracies_of(scored: dict[str, np.ndarray]) -> dict[str, Any]:
        found: dict[str, Any] = {"labelled_transfer": _accuracy(scored["transfer"][: len(fit)], y_fit)}
        if held is not None:
            found["held_out"] = _accuracy(scored["held"], y_held)
        if eval_data is not None:
            found["eval"] = _accuracy(scored["eval"], y_eval)
        return found

    members: list[dict[str, np.ndarray]] = []
    member_records: list[dict[str, Any]] = []
    parts = {"transfer": transfer, "held": held.texts if held is not None else None,
             "eval": eval_data.texts if eval_data is not None else None}
    parts = {part: texts for part, texts in parts.items() if texts is not None}
    share = 29.0 / len(teacher_dirs)
    for number, (folder, teacher_config) in enumerate(zip(teacher_dirs, teacher_configs)):
        begin = 1.0 + number * share
        progress(begin, f"loading the teacher {folder.name}")
        scored = _teacher_scores(folder, teacher_config, labels, parts, config, device,
                                 sub_progress(progress, begin + 1.0, begin + share))
        members.append(scored)
        member_records.append({"path": str(folder.resolve()), "base_model": teacher_config.base_model,
                               "method": teacher_config.method, "max_length": teacher_config.max_length,
                               "temperature": teacher_config.temperature, "accuracy": accuracies_of(scored)})
        if device.is_cuda:  # the teacher is gone: free its memory before the next one or the student loads
            torch.cuda.empty_cache()
    temperatures = [record["temperature"] for record in member_records]
    combined = {part: ensemble_logits([member[part] for member in members], temperatures) for part in members[0]}
    soft = combined["transfer"]
    held_teacher = combined.get("held")
    teacher_accuracy: dict[str, Any] = accuracies_of(combined)  # the ensemble's; each member's in its record

    # --- the student: a fresh classifier on its own backbone ------------------------------------
    progress(31.0, f"loading the student's backbone {config.student_base}")
    base = load_base(config.student_base)
    student = TextClassifier(base.encoder, len(labels), pooling=base.pooling, normalize=base.normalize,
                             dropout=0.1)
    if config.student_layers:
        keep_layers(student, config.student_layers)
    student = student.to(device.device)
    tokenizer, pad_id = base.tokenizer, base.tokenizer.pad_token_id or 0
    sequences = tokenize(tokenizer, transfer, config.max_length)
    if config.init_head == "logreg":
        progress(32.0, "fitting the student's head on frozen embeddings")
        student.eval()
        features = batched_forward(student.embed, sequences, pad_id=pad_id, batch_size=config.teacher_batch_size,
                                   device=device.device, autocast=device.autocast)
        targets = np.where(y >= 0, y, soft.argmax(axis=1))
        weight, bias = _fit_logistic_head(features, targets, len(labels),
                                          ClassifierConfig(head_c=config.head_c, seed=training.seed))
        with torch.no_grad():
            student.head.weight.copy_(torch.from_numpy(weight))
            student.head.bias.copy_(torch.from_numpy(bias))
    curves = train_student(student, sequences, y, pad_id=pad_id, config=training, soft_targets=soft,
                           device=device.device, autocast=device.autocast, progress=sub_progress(progress, 35.0, 94.0))

    # --- calibration and figures ----------------------------------------------------------------
    progress(95.0, "calibrating the student on the held-out split")

    def score_with_student(texts: Sequence[str]) -> np.ndarray:
        return teacher_logits(student, tokenize(tokenizer, list(texts), config.max_length), pad_id,
                              config.teacher_batch_size, device=device.device, autocast=device.autocast)

    temperature, report, eval_report = 1.0, None, None
    metrics: dict[str, Any] = {"method": "distill-across", "teacher_accuracy": teacher_accuracy,
                               "n_transfer": len(transfer), "n_labelled": len(fit), "n_unlabelled": len(extra_texts)}
    if held is not None:
        held_student = score_with_student(held.texts)
        temperature = fit_temperature(held_student, y_held)
        report = report_from_logits(held_student, y_held, labels, temperature)
        metrics.update(accuracy=report["accuracy"], macro_f1=report["macro_f1"], ece=report["ece"], nll=report["nll"],
                       n_valid=len(held), agreement_with_teacher=_accuracy(held_student, held_teacher.argmax(axis=1)))
    if eval_data is not None:
        eval_report = report_from_logits(score_with_student(eval_data.texts), label_ids(eval_data, labels), labels,
                                         temperature)
        metrics.update(eval_accuracy=eval_report["accuracy"], eval_macro_f1=eval_report["macro_f1"])
    metrics["temperature"] = temperature

    distillation = {
        "teacher": _teacher_record(member_records),
        "teacher_accuracy": teacher_accuracy,
        "transfer_set": {"labelled": len(fit), "unlabelled": len(extra_texts), "total": len(transfer),
                         "unlabelled_given": len(unlabelled), "unlabelled_dropped_duplicates": dropped,
                         "unlabelled_sources": [str(s) for s in unlabelled_sources]},
        "held_out": len(held) if held is not None else 0,
        "eval": len(eval_data) if eval_data is not None else 0,
        "config": config.to_dict(),
        "curves": curves,
    }
    result = CrossDistillResult(metrics, distillation, curves, None, student.eval(), tokenizer)
    if out_dir is None:
        return result
    progress(97.0, "writing the student")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise UserError(f"output folder {out_dir} is not empty")
    training_config = ClassifierConfig(
        method="full", base_model=config.student_base, epochs=training.epochs, learning_rate=training.learning_rate,
        head_learning_rate=training.head_learning_rate, batch_size=training.batch_size,
        eval_batch_size=config.teacher_batch_size, max_length=config.max_length, seed=training.seed,
        device=config.device, cpu_threads=config.cpu_threads, warmup_ratio=training.warmup_ratio,
        weight_decay=training.weight_decay, max_grad_norm=training.max_grad_norm, init_head=config.init_head,
        head_c=config.head_c, valid_fraction=training.calibration_fraction, calibrate=held is not None,
    ).to_dict()
    write_full_classifier(student, tokenizer, out_dir, ArtifactConfig(
        method="full", base_model=config.student_base, labels=labels, pooling=student.pooling,
        normalize=student.normalize, max_length=config.max_length, temperature=float(temperature),
        training_config=training_config, extra={"distillation": distillation},
    ))
    summary = {"train": fit.summary(), "valid": held.summary() if held is not None else None,
               "valid_held_out_of_train": held is not None,
               "unlabelled": {"n": len(extra_texts), "sources": [str(s) for s in unlabelled_sources]}}
    files = {"metrics.json": metrics, "curves.json": curves, "training_data.json": summary}
    if report is not None:
        files["evaluation.json"] = report
    if eval_report is not None:
        files["evaluation_test.json"] = eval_report
    for name, payload in files.items():
        (out_dir / name).write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    result.out_dir = out_dir
    progress(100.0, f"student written: {metrics.get('accuracy', float('nan')):.4f} held-out accuracy")
    return result
