"""Compress a trained classifier, measure every variant side by side, promote one within a bound.

The steps, in order:
 1. score the PyTorch fp32 model on the evaluation split (the baseline);
 2. export it to ONNX (plain graph, then fused for the CPU), each verified against PyTorch;
 3. build the variants asked for: dynamic int8 (all of it, or with the feed-forward outputs in
    fp32: "int8-mixed"), static int8 (calibrated on training texts),
    magnitude pruning, structured pruning, distillation (the last three fine-tuned briefly);
 4. score each variant on the same split, and time them all in interleaved rounds;
 5. the guardrail: among the variants asked for, keep those whose accuracy is within
    `max_accuracy_drop` points of fp32, that are shown no worse than it within
    `no_worse_margin` points when that is set (the paired test of the apps' activation policy,
    on the same texts: a copy that changes many answers can have fp32's accuracy by chance,
    and the policy would then refuse to put it live), and that are faster than it; promote the
    one with the highest throughput; or say, variant by variant, why none qualifies;
 6. write the promoted variant as a complete classifier folder: the model's own files, the
    ONNX file, serving.json (what ClassifierPredictor.load serves) and compression.json (the
    report).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import LabelledTexts
from ..errors import UserError
from ..evaluation import label_ids, report_from_logits
from ..options import options_from_dict
from ..progress import ProgressCallback, no_progress, sub_progress
from ..serving.onnx_backend import SERVING_FILE, OnnxLogitsBackend, file_sha256, serving_threads
from ..serving.predictor import ClassifierPredictor, TorchLogitsBackend
from ..training.model import ENCODER_DIR, HEAD_FILE, read_artifact_config
from .latency import file_size_mb, load_average, measure_side_by_side

log = logging.getLogger(__name__)

METHODS = ("onnx", "int8", "int8-mixed", "int8-static", "prune", "prune-structured", "distill")
NEEDS_TRAINING_TEXTS = ("int8-static", "prune", "prune-structured", "distill")
REPORT_FILE = "compression.json"
BASELINE = "pytorch-fp32"
ONNX_NAMES = {"onnx": "model.onnx", "int8": "model.int8.onnx", "int8-mixed": "model.int8-mixed.onnx",
              "int8-static": "model.int8-static.onnx"}
# Files of a source folder that describe its own serving, not the new variant's.
_NOT_COPIED = ("MANIFEST.json", SERVING_FILE, REPORT_FILE, *ONNX_NAMES.values())


class NotPromoted(UserError):
    """No variant passed the guardrail; the message says why for each."""


@dataclass
class CompressionConfig:
    methods: tuple[str, ...] = ("onnx", "int8", "int8-mixed", "int8-static")
    # Promote only variants within this many points of fp32 accuracy (0.5 = half a point).
    max_accuracy_drop: float = 0.5
    # With a margin (points), only variants shown no worse than fp32 within it: the lower end of
    # the paired `no_worse_confidence` interval of (variant - fp32) accuracy above -margin.
    no_worse_margin: float | None = None
    no_worse_confidence: float = 0.95
    # Promote only a variant whose throughput at the largest batch size is more than this many
    # times fp32's; 0 lets accuracy alone decide (where a timing says nothing: tiny test models
    # on a busy machine).
    min_speedup: float = 1.0
    per_channel: bool = True
    calibration_texts: int = 256
    calibration_method: str = "minmax"
    sparsity: float = 0.5
    drop_layers: int = 2
    ffn_keep: float = 1.0
    recovery_epochs: int = 1
    distill_epochs: int = 3
    distill_layers: tuple[int, ...] = ()  # empty: every other layer
    distill_temperature: float = 2.0
    distill_soft_weight: float = 0.5
    student_learning_rate: float = 1e-4
    student_batch_size: int = 32
    threads: int = 0  # ONNX Runtime and torch threads while measuring (0: the serving default)
    latency_texts: int = 256
    latency_rounds: int = 3
    latency_calls: int = 32  # timed calls per variant, batch size and round
    batch_sizes: tuple[int, ...] = (1, 32)
    parity_texts: int = 256
    seed: int = 42

    def validate(self) -> CompressionConfig:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise UserError(f"unknown compression method(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(METHODS)}")
        if self.max_accuracy_drop < 0:
            raise UserError(f"max_accuracy_drop must be >= 0 points, not {self.max_accuracy_drop}")
        if self.min_speedup < 0:
            raise UserError(f"min_speedup must be 0 or more, not {self.min_speedup}")
        if self.no_worse_margin is not None and self.no_worse_margin < 0:
            raise UserError(f"no_worse_margin must be >= 0 points, not {self.no_worse_margin}")
        if not 0.5 <= self.no_worse_confidence < 1:
            raise UserError(f"no_worse_confidence must be at least 0.5 and below 1, not {self.no_worse_confidence}")
        if self.calibration_method not in ("minmax", "percentile", "entropy"):
            raise UserError(f"calibration_method must be minmax, percentile or entropy, not {self.calibration_method!r}")
        if min(self.calibration_texts, self.latency_texts, self.latency_rounds, self.latency_calls, self.parity_texts) < 1:
            raise UserError("calibration_texts, latency_texts, latency_rounds, latency_calls and parity_texts "
                            "must be at least 1")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise UserError("batch_sizes must be positive")
        if self.threads < 0:
            raise UserError("threads must be >= 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompressionConfig:
        return options_from_dict(cls, data, error=UserError, unknown="unknown compression option(s)", validate=True)


@dataclass
class Variant:
    name: str
    label: str
    method: str  # "baseline" or one of METHODS
    backend: str  # torch | onnx
    folder: Path  # the classifier folder (its tokenizer and config; its weights for torch variants)
    onnx_file: Path | None = None
    size_mb: float = 0.0
    parameters: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    predictor: ClassifierPredictor | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "method": self.method, "backend": self.backend,
                "file": self.onnx_file.name if self.onnx_file else None, "size_mb": self.size_mb,
                "parameters": self.parameters, **self.figures, "info": self.info}


@dataclass
class CompressionResult:
    report: dict[str, Any]
    promoted: str | None
    reason: str
    out_dir: Path | None = None

    def row(self, name: str) -> dict[str, Any]:
        return next(r for r in self.report["variants"] if r["name"] == name)


def torch_weights_mb(folder: Path) -> float:
    """What a PyTorch classifier loads: its encoder weights (or the backbone's) and its head."""
    from ..backbone import resolve_backbone

    config = read_artifact_config(folder)
    encoder = folder / ENCODER_DIR
    if not encoder.is_dir():
        encoder = Path(resolve_backbone(config.base_model))
    weights = sorted(encoder.glob("*.safetensors")) or sorted(encoder.glob("*.bin"))
    adapter = sorted((folder / "adapter").glob("*.safetensors")) if config.method == "lora" else []
    return file_size_mb(*weights, *adapter, folder / HEAD_FILE)


def onnx_parameter_count(path: Path) -> int:
    """Weights stored in the graph (quantized tensors count once; scales and zero points do not)."""
    import onnx

    graph = onnx.load(str(path)).graph
    return int(sum(int(np.prod(t.dims)) for t in graph.initializer if len(t.dims) >= 1 and np.prod(t.dims) > 64))


def _sample(texts: Sequence[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))[: min(n, len(texts))]
    return [texts[i] for i in sorted(order)]


class _Run:
    """One compression run: its variants, its working folder and its progress."""

    def __init__(self, model_dir: Path, config: CompressionConfig, work: Path, progress: ProgressCallback) -> None:
        self.model_dir = model_dir
        self.config = config
        self.work = work
        self.progress = progress
        self.source = read_artifact_config(model_dir)
        self.threads = serving_threads(config.threads or None)
        self.variants: list[Variant] = []

    def predictor(self, variant: Variant) -> ClassifierPredictor:
        if variant.backend == "onnx":
            backend = OnnxLogitsBackend(variant.folder, file=variant.onnx_file, threads=self.threads)
        else:
            backend = TorchLogitsBackend(variant.folder, device="cpu")
        return ClassifierPredictor(backend, read_artifact_config(variant.folder), variant.folder)

    def add(self, variant: Variant, eval_data: LabelledTexts, y: np.ndarray) -> Variant:
        variant.predictor = self.predictor(variant)
        started = time.perf_counter()
        logits = variant.predictor.predict_logits(eval_data.texts)
        report = report_from_logits(logits, y, variant.predictor.labels, variant.predictor.temperature)
        variant.figures.update({"accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
                                "ece": report["ece"], "eval_seconds": round(time.perf_counter() - started, 2)})
        variant.info.setdefault("logits", logits)  # removed before the report is written
        self.variants.append(variant)
        log.info("%s: accuracy %.4f, macro-F1 %.4f", variant.name, report["accuracy"], report["macro_f1"])
        return variant

    # --- the variants ------------------------------------------------------------------------------
    def baseline(self, eval_data, y) -> Variant:
        from .pruning import parameter_count

        variant = Variant(BASELINE, "PyTorch fp32", "baseline", "torch", self.model_dir,
                          size_mb=torch_weights_mb(self.model_dir))
        self.add(variant, eval_data, y)
        variant.parameters = parameter_count(variant.predictor.backend.model)
        return variant

    def onnx_variants(self, eval_data, y, train: LabelledTexts | None, progress: ProgressCallback) -> None:
        from .onnx_export import ClassifierExporter
        from .quantize import feed_forward_outputs, quantize_dynamic_int8, quantize_static_int8

        config = self.config
        progress(0.0, "PyTorch reference outputs for the ONNX checks")
        exporter = ClassifierExporter(self.model_dir, eval_data.texts[: config.parity_texts], threads=self.threads)
        plain, fused = self.work / "model.plain.onnx", self.work / ONNX_NAMES["onnx"]
        progress(10.0, "exporting to ONNX")
        plain_check = exporter.export(plain, optimize=False)
        progress(30.0, "fusing the graph for the CPU")
        check = exporter.optimized_copy(plain, fused)
        parameters = onnx_parameter_count(fused)
        self.add(Variant("onnx-fp32", "ONNX fp32", "onnx", "onnx", self.model_dir, fused,
                         size_mb=file_size_mb(fused), parameters=parameters,
                         info={"parity": check.to_dict(), "plain_parity": plain_check.to_dict()}), eval_data, y)
        if "int8" in config.methods:
            progress(45.0, "dynamic int8 quantization")
            path = quantize_dynamic_int8(fused, self.work / ONNX_NAMES["int8"], per_channel=config.per_channel)
            self.add(Variant("onnx-int8", "ONNX int8 (dynamic)", "int8", "onnx", self.model_dir, path,
                             size_mb=file_size_mb(path), parameters=parameters,
                             info={"per_channel": config.per_channel,
                                   "parity": exporter.compare(path).to_dict()}), eval_data, y)
        if "int8-mixed" in config.methods:
            keep = feed_forward_outputs(fused)
            if keep:
                progress(55.0, "dynamic int8 quantization, feed-forward outputs in fp32")
                path = quantize_dynamic_int8(fused, self.work / ONNX_NAMES["int8-mixed"],
                                             per_channel=config.per_channel, keep_fp32=keep)
                self.add(Variant("onnx-int8-mixed", "ONNX int8 (dynamic, feed-forward outputs fp32)", "int8-mixed",
                                 "onnx", self.model_dir, path, size_mb=file_size_mb(path), parameters=parameters,
                                 info={"per_channel": config.per_channel, "fp32_nodes": len(keep),
                                       "parity": exporter.compare(path).to_dict()}), eval_data, y)
            else:  # not a BERT-style graph: it would be the same as "int8"
                log.info("int8-mixed skipped: the graph has no feed-forward output products to keep in fp32")
        if "int8-static" in config.methods:
            progress(65.0, "static int8 quantization (calibrating)")
            texts = _sample(train.texts, config.calibration_texts, config.seed)
            path = quantize_static_int8(plain, self.work / ONNX_NAMES["int8-static"], tokenizer=exporter.tokenizer,
                                        texts=texts, max_length=self.source.max_length,
                                        per_channel=config.per_channel, method=config.calibration_method)
            self.add(Variant("onnx-int8-static", "ONNX int8 (static)", "int8-static", "onnx", self.model_dir, path,
                             size_mb=file_size_mb(path), parameters=parameters,
                             info={"per_channel": config.per_channel, "calibration_texts": len(texts),
                                   "calibration_method": config.calibration_method,
                                   "parity": exporter.compare(path).to_dict()}), eval_data, y)
        progress(100.0, "ONNX variants done")

    def student_variants(self, eval_data, y, train: LabelledTexts, progress: ProgressCallback) -> None:
        from ..training.model import load_classifier
        from .distill import StudentTraining, distill_classifier, save_classifier
        from .pruning import compressed_size_mb, magnitude_prune, parameter_count, structured_prune

        config = self.config
        teacher, tokenizer, _ = load_classifier(self.model_dir, device="cpu")
        # The head learns 10x faster than the encoder, as in fine-tuning.
        student_config = {"learning_rate": config.student_learning_rate,
                              "head_learning_rate": 10 * config.student_learning_rate,
                              "batch_size": config.student_batch_size, "seed": config.seed}
        jobs = [m for m in ("prune", "prune-structured", "distill") if m in config.methods]
        for index, method in enumerate(jobs):
            step = sub_progress(progress, 100.0 * index / len(jobs), 100.0 * (index + 1) / len(jobs))
            if method == "prune":
                result = magnitude_prune(teacher, tokenizer, self.source, train, sparsity=config.sparsity,
                                         config=StudentTraining(epochs=config.recovery_epochs, soft_weight=0.0,
                                                                **student_config), progress=step)
                name, label = "pruned", f"pruned ({config.sparsity:.0%} unstructured)"
            elif method == "prune-structured":
                result = structured_prune(teacher, tokenizer, self.source, train, drop_layers=config.drop_layers,
                                          ffn_keep=config.ffn_keep,
                                          config=StudentTraining(epochs=config.recovery_epochs, soft_weight=0.0,
                                                                 **student_config), progress=step)
                name, label = "pruned-structured", f"pruned ({result.info['layers_kept']} layers)"
            else:
                result = distill_classifier(teacher, tokenizer, self.source, train,
                                            layers=config.distill_layers or None,
                                            config=StudentTraining(epochs=config.distill_epochs,
                                                                   temperature=config.distill_temperature,
                                                                   soft_weight=config.distill_soft_weight,
                                                                   **student_config),
                                            progress=step)
                name, label = "distilled", f"distilled ({len(result.info['layers_kept'])} layers)"
            folder = save_classifier(result.model, tokenizer, self.source, self.work / name,
                                     temperature=result.temperature, compression=result.info)
            weights = folder / ENCODER_DIR / "model.safetensors"
            info = {k: v for k, v in result.info.items() if k != "curves"}
            info["curves"] = result.curves
            if method == "prune":
                info["compressed_size_mb"] = compressed_size_mb(weights)
            self.add(Variant(name, label, method, "torch", folder, size_mb=torch_weights_mb(folder),
                             parameters=parameter_count(result.model), info=info), eval_data, y)

    # --- measuring and choosing ----------------------------------------------------------------------
    def measure_latency(self, texts: list[str], progress: ProgressCallback) -> dict[str, Any]:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)  # same threads for PyTorch and ONNX Runtime: a fair race
        load_before = load_average()
        try:
            figures = measure_side_by_side({v.name: v.predictor.predict_logits for v in self.variants}, texts,
                                           batch_sizes=self.config.batch_sizes, rounds=self.config.latency_rounds,
                                           calls_per_round={b: self.config.latency_calls for b in self.config.batch_sizes},
                                           progress=progress)
        finally:
            torch.set_num_threads(previous)
        for variant in self.variants:
            variant.figures["latency"] = {str(b): f.to_dict() for b, f in figures[variant.name].items()}
        return {"load_average_before": load_before, "load_average_after": load_average()}

    def compare_with_baseline(self, y: np.ndarray) -> None:
        from ..stats import discordant_counts, paired_accuracy_from_answers

        base = self.variants[0]
        big, small = str(max(self.config.batch_sizes)), str(min(self.config.batch_sizes))
        base_logits = base.info["logits"]
        base_right = base_logits.argmax(1) == y
        for variant in self.variants:
            f = variant.figures
            f["accuracy_drop_points"] = round(100.0 * (base.figures["accuracy"] - f["accuracy"]), 3)
            f["macro_f1_drop_points"] = round(100.0 * (base.figures["macro_f1"] - f["macro_f1"]), 3)
            f["agreement_with_fp32"] = round(float((variant.info["logits"].argmax(1) == base_logits.argmax(1)).mean()), 5)
            right = variant.info["logits"].argmax(1) == y
            paired = paired_accuracy_from_answers(base_right.tolist(), right.tolist(),
                                                  confidence=self.config.no_worse_confidence)
            only_fp32, only_variant = discordant_counts(base_right.tolist(), right.tolist())
            f["paired_with_fp32"] = {"n": paired.n, "only_fp32_right": only_fp32, "only_variant_right": only_variant,
                                     "confidence": paired.confidence, "low_points": round(100.0 * paired.low, 3),
                                     "high_points": round(100.0 * paired.high, 3)}
            if self.config.no_worse_margin is not None:
                f["paired_with_fp32"]["shown_no_worse"] = paired.no_worse_within(self.config.no_worse_margin / 100.0)
            f["size_ratio"] = round(variant.size_mb / base.size_mb, 4) if base.size_mb else None
            f["texts_per_s"] = f["latency"][big]["texts_per_s"]  # at the largest batch
            f["throughput_speedup"] = round(f["latency"][big]["texts_per_s"] / base.figures["latency"][big]["texts_per_s"], 3)
            f["p50_speedup"] = round(base.figures["latency"][small]["p50_ms"] / f["latency"][small]["p50_ms"], 3)


def choose_promoted(rows: list[dict[str, Any]], *, methods: Sequence[str], max_accuracy_drop: float,
                    batch_size: int, no_worse_margin: float | None = None,
                    min_speedup: float = 1.0) -> tuple[str | None, str]:
    """The guardrail: (name of the variant to serve, or None, and why) from report rows."""
    key = str(batch_size)
    candidates = [r for r in rows if r["method"] in methods]
    if not candidates:
        return None, "no compressed variant was built"
    passing, refused = [], []
    for row in candidates:
        paired = row.get("paired_with_fp32")
        if row["accuracy_drop_points"] > max_accuracy_drop + 1e-9:
            refused.append(f"{row['label']} loses {row['accuracy_drop_points']:.2f} accuracy points "
                           f"(at most {max_accuracy_drop:.2f} allowed)")
        elif no_worse_margin is not None and paired and paired.get("shown_no_worse") is False:
            changed = paired["only_fp32_right"] + paired["only_variant_right"]
            refused.append(f"{row['label']} is not shown within {no_worse_margin:.1f} points of fp32: it changes "
                           f"{changed} of {paired['n']} answers (right only in fp32: {paired['only_fp32_right']}, "
                           f"only in it: {paired['only_variant_right']}), {100 * paired['confidence']:.0f} % "
                           f"interval {paired['low_points']:+.1f} to {paired['high_points']:+.1f} points")
        elif row["throughput_speedup"] <= min_speedup:
            faster = "faster than" if min_speedup == 1.0 else f"more than {min_speedup:.2f}× as fast as"
            refused.append(f"{row['label']} is not {faster} PyTorch fp32 at batch {batch_size} "
                           f"({row['throughput_speedup']:.2f}×)")
        else:
            passing.append(row)
    if not passing:
        return None, "nothing promoted: " + "; ".join(refused)
    best = max(passing, key=lambda r: (r["latency"][key]["texts_per_s"], r["accuracy"]))
    reason = (f"{best['label']} promoted: accuracy {100 * best['accuracy']:.2f}% "
              f"({-best['accuracy_drop_points']:+.2f} points against fp32, at most -{max_accuracy_drop:.2f} allowed), "
              f"{best['throughput_speedup']:.2f}× the throughput at batch {batch_size}, "
              f"{100 * best['size_ratio']:.0f}% of the size")
    if refused:
        reason += "; not promoted: " + "; ".join(refused)
    return best["name"], reason


def compress_classifier(model_dir: Path | str, *, eval_data: LabelledTexts, train_data: LabelledTexts | None = None,
                        config: CompressionConfig | None = None, out_dir: Path | str | None = None,
                        work_dir: Path | str | None = None,
                        progress: ProgressCallback = no_progress) -> CompressionResult:
    """Build, score and time the variants of the classifier in `model_dir`; promote one.

    `eval_data` is the labelled split every variant is scored on; `train_data` gives the
    calibration texts (int8-static) and the fine-tuning data (prune, prune-structured,
    distill). With `out_dir`, the promoted variant (if any) is written there as a complete
    classifier folder. Working files go to a temporary folder in `work_dir` (same file system
    as `out_dir` lets files be hard-linked).
    """
    config = (config or CompressionConfig()).validate()
    model_dir = Path(model_dir)
    needing = [m for m in config.methods if m in NEEDS_TRAINING_TEXTS]
    if needing and (train_data is None or not len(train_data)):
        raise UserError(f"method(s) {', '.join(needing)} need training texts (calibration or fine-tuning data)")
    if not len(eval_data):
        raise UserError("the evaluation data is empty")
    started = time.perf_counter()
    source = read_artifact_config(model_dir)
    y = label_ids(eval_data, source.labels)
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="compress-", dir=work_dir))
    try:
        run = _Run(model_dir, config, work, progress)
        progress(1.0, f"scoring PyTorch fp32 on {len(eval_data)} texts")
        run.baseline(eval_data, y)
        if any(m in config.methods for m in ONNX_NAMES):
            run.onnx_variants(eval_data, y, train_data, sub_progress(progress, 8.0, 40.0))
        if any(m in config.methods for m in ("prune", "prune-structured", "distill")):
            run.student_variants(eval_data, y, train_data, sub_progress(progress, 40.0, 82.0))
        progress(82.0, "timing every variant side by side")
        latency_texts = _sample(eval_data.texts, config.latency_texts, config.seed)
        machine = run.measure_latency(latency_texts, sub_progress(progress, 82.0, 97.0))
        run.compare_with_baseline(y)
        rows = [v.row() for v in run.variants]
        for row in rows:
            row["info"] = {k: v for k, v in row["info"].items() if k != "logits"}
        promoted, reason = choose_promoted(rows, methods=config.methods, max_accuracy_drop=config.max_accuracy_drop,
                                           batch_size=max(config.batch_sizes), no_worse_margin=config.no_worse_margin,
                                           min_speedup=config.min_speedup)
        import onnxruntime
        import torch

        report = {
            "model": str(model_dir), "base_model": source.base_model, "labels": len(source.labels),
            "evaluation": {"source": eval_data.source, "n": len(eval_data)},
            "config": config.to_dict(), "baseline": BASELINE, "variants": rows,
            "promoted": promoted, "reason": reason, "max_accuracy_drop": config.max_accuracy_drop,
            "machine": {"cpu_count": os.cpu_count(), "threads": run.threads, "processor": platform.processor(),
                        "onnxruntime": onnxruntime.__version__, "torch": torch.__version__, **machine},
            "seconds": round(time.perf_counter() - started, 1),
        }
        log.info(reason)
        result = CompressionResult(report=report, promoted=promoted, reason=reason)
        if out_dir is not None and promoted is not None:
            progress(98.0, "writing the promoted variant")
            variant = next(v for v in run.variants if v.name == promoted)
            result.out_dir = write_promoted(variant, report, Path(out_dir), source_dir=model_dir)
        progress(100.0, reason[:200])
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_promoted(variant: Variant, report: dict[str, Any], out_dir: Path, *, source_dir: Path) -> Path:
    """Write the promoted variant as a complete classifier folder (must be empty or absent)."""
    from .onnx_export import copy_tree_linked

    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise UserError(f"output folder {out_dir} is not empty")
    row = next(r for r in report["variants"] if r["name"] == variant.name)
    serving: dict[str, Any] = {
        "backend": variant.backend, "variant": variant.name, "label": variant.label,
        "accuracy": row["accuracy"], "accuracy_drop_points": row["accuracy_drop_points"],
        "max_accuracy_drop": report["max_accuracy_drop"], "reason": report["reason"], "compressed_from": str(source_dir),
    }
    if variant.backend == "onnx":
        copy_tree_linked(source_dir, out_dir, skip=_NOT_COPIED)
        name = ONNX_NAMES[variant.method]
        shutil.copyfile(variant.onnx_file, out_dir / name)
        serving.update({"file": name, "sha256": file_sha256(out_dir / name),
                        "parity_with_pytorch": row["info"].get("parity")})
    else:
        copy_tree_linked(variant.folder, out_dir, skip=_NOT_COPIED)
    (out_dir / SERVING_FILE).write_text(json.dumps(serving, indent=2, sort_keys=True))
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True))
    return out_dir
