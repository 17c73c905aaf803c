"""Pruning: unstructured (magnitude) and structured (whole layers, FFN neurons), each with recovery.

Unstructured: the smallest-magnitude weights of the encoder's linear layers are zeroed, over
all layers at once (global L1, torch.nn.utils.prune), to a target sparsity; a short fine-tune
with the mask held recovers accuracy. Dense CPU kernels do not skip zeros and a dense file
stores them, so this buys neither speed nor file size by itself: the report shows the real
dense size and speed, and the size the weights compress to (what a zipped download costs).

Structured: whole transformer layers are removed (those whose removal costs the least loss on
a sample of the training texts) and, optionally, the feed-forward blocks keep only their most
important neurons (by |w_in|·|w_out|, the same count in every layer so the config describes
it). The network really gets smaller and faster, and still loads with plain transformers.
Attention heads are not pruned one by one: the BERT config cannot describe a different head
count per layer, so such a model would no longer load without custom code.
"""
from __future__ import annotations

import copy
import logging
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from ..data import LabelledTexts
from ..errors import UserError
from ..evaluation import label_ids
from ..progress import ProgressCallback, no_progress, sub_progress
from ..training.model import ArtifactConfig, TextClassifier, tokenize
from .distill import (
    StudentResult,
    StudentTraining,
    fit_student,
    keep_layers,
    teacher_logits,
    transformer_layers,
)

log = logging.getLogger(__name__)


def encoder_linears(model: TextClassifier) -> list[nn.Linear]:
    return [m for m in model.encoder.modules() if isinstance(m, nn.Linear)]


def linear_sparsity(model: TextClassifier) -> float:
    """Share of exact zeros in the encoder's linear weights."""
    total = zeros = 0
    for module in encoder_linears(model):
        weight = module.weight.detach()
        total += weight.numel()
        zeros += int((weight == 0).sum())
    return zeros / total if total else 0.0


def parameter_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def compressed_size_mb(path: Path | str, level: int = 6) -> float:
    """Size of a file once deflated (zeros compress; dense non-zero floats barely do)."""
    compressor = zlib.compressobj(level)
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            size += len(compressor.compress(chunk))
    size += len(compressor.flush())
    return round(size / 2**20, 2)


def magnitude_prune(teacher: TextClassifier, tokenizer, source: ArtifactConfig, train: LabelledTexts, *,
                    sparsity: float, config: StudentTraining | None = None,
                    progress: ProgressCallback = no_progress) -> StudentResult:
    """A copy of `teacher` with `sparsity` of its encoder's linear weights zeroed, then fine-tuned."""
    if not 0.0 < sparsity < 1.0:
        raise UserError(f"sparsity must be between 0 and 1 (exclusive), not {sparsity}")
    config = (config or StudentTraining(epochs=1, soft_weight=0.0)).validate()
    model = copy.deepcopy(teacher)
    targets = [(module, "weight") for module in encoder_linears(model)]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=sparsity)
    progress(2.0, f"{sparsity:.0%} of the encoder's linear weights zeroed; recovery fine-tune")
    curves, temperature = fit_student(model, tokenizer, source, train, config=config, teacher=teacher,
                                      progress=sub_progress(progress, 2.0, 100.0))
    for module, name in targets:
        prune.remove(module, name)  # fold the mask into the weights: plain tensors again
    achieved = linear_sparsity(model)
    info = {"method": "prune", "kind": "unstructured magnitude (global L1)", "target_sparsity": sparsity,
            "linear_sparsity": round(achieved, 4), "training": config.to_dict(), "curves": curves}
    return StudentResult(model, temperature, curves, info)


def layer_importance(model: TextClassifier, tokenizer, source: ArtifactConfig, sample: LabelledTexts) -> list[float]:
    """Loss increase on `sample` when each layer alone is skipped (higher: more important)."""
    pad_id = tokenizer.pad_token_id or 0
    sequences = tokenize(tokenizer, sample.texts, source.max_length)
    y = torch.as_tensor(label_ids(sample, source.labels))

    def loss_of(network: TextClassifier) -> float:
        logits = torch.from_numpy(teacher_logits(network, sequences, pad_id))
        return float(nn.functional.cross_entropy(logits, y))

    base = loss_of(model)
    stack = model.encoder.encoder
    layers = transformer_layers(model)
    increases = []
    try:
        for skipped in range(len(layers)):
            stack.layer = nn.ModuleList([layer for i, layer in enumerate(layers) if i != skipped])
            increases.append(loss_of(model) - base)
    finally:
        stack.layer = layers
    return increases


def prune_ffn_neurons(model: TextClassifier, keep: float) -> int:
    """Keep the `keep` share of each layer's feed-forward neurons, by |w_in|·|w_out|. Returns the new size."""
    layers = transformer_layers(model)
    size = layers[0].intermediate.dense.out_features
    kept = max(1, round(size * keep))
    if kept >= size:
        return size
    for layer in layers:
        w_in, w_out = layer.intermediate.dense, layer.output.dense
        score = w_in.weight.detach().norm(dim=1) * w_out.weight.detach().norm(dim=0)
        index = torch.sort(torch.topk(score, kept).indices).values
        new_in = nn.Linear(w_in.in_features, kept)
        new_in.weight.data = w_in.weight.data[index].clone()
        new_in.bias.data = w_in.bias.data[index].clone()
        new_out = nn.Linear(kept, w_out.out_features)
        new_out.weight.data = w_out.weight.data[:, index].clone()
        new_out.bias.data = w_out.bias.data.clone()
        layer.intermediate.dense, layer.output.dense = new_in, new_out
    model.encoder.config.intermediate_size = kept
    return kept


def structured_prune(teacher: TextClassifier, tokenizer, source: ArtifactConfig, train: LabelledTexts, *,
                     drop_layers: int = 2, ffn_keep: float = 1.0, importance_sample: int = 512,
                     config: StudentTraining | None = None, progress: ProgressCallback = no_progress) -> StudentResult:
    """Remove the `drop_layers` least important layers (and FFN neurons down to `ffn_keep`), then fine-tune."""
    n_layers = len(transformer_layers(teacher))
    if not 0 <= drop_layers < n_layers:
        raise UserError(f"drop_layers must be between 0 and {n_layers - 1}, not {drop_layers}")
    if not 0.0 < ffn_keep <= 1.0:
        raise UserError(f"ffn_keep must be in (0, 1], not {ffn_keep}")
    config = (config or StudentTraining(epochs=1, soft_weight=0.0)).validate()
    model = copy.deepcopy(teacher)
    progress(0.0, "measuring each layer's importance")
    rng = np.random.default_rng(config.seed)
    pick = sorted(rng.permutation(len(train))[: min(importance_sample, len(train))].tolist())
    sample = LabelledTexts([train.texts[i] for i in pick], [train.labels[i] for i in pick], source=train.source)
    importance = layer_importance(model, tokenizer, source, sample)
    dropped = sorted(np.argsort(importance, kind="stable")[:drop_layers].tolist())
    keep_layers(model, [i for i in range(n_layers) if i not in dropped])
    ffn_size = prune_ffn_neurons(model, ffn_keep)
    progress(8.0, f"dropped layers {dropped}; feed-forward size {ffn_size}; recovery fine-tune")
    curves, temperature = fit_student(model, tokenizer, source, train, config=config, teacher=teacher,
                                      progress=sub_progress(progress, 8.0, 100.0))
    info: dict[str, Any] = {
        "method": "prune-structured", "kind": "structured (layers, feed-forward neurons)",
        "layer_importance": [round(x, 5) for x in importance], "layers_dropped": dropped,
        "layers_kept": n_layers - len(dropped), "ffn_size": ffn_size, "training": config.to_dict(), "curves": curves,
    }
    return StudentResult(model, temperature, curves, info)
