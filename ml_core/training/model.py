"""The classifier network and its artifact folder.

A `TextClassifier` is the backbone encoder, the pooling the backbone was trained with (mean
pooling for all-MiniLM-L6-v2, then L2 normalisation), dropout and one linear layer. Scoring
frozen embeddings with a logistic regression and fine-tuning therefore use the same features,
so the fine-tuning head can start from the logistic-regression solution.

The artifact folder's format (classifier.json, head.safetensors, tokenizer/, encoder/, adapter/)
is defined in ml_core.artifact_format; its names are importable from here too, as before.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..artifact_format import (  # the artifact format: still importable from here (see __all__)
    ADAPTER_DIR,
    ARTIFACT_FORMAT,
    ARTIFACT_FORMAT_VERSION,
    CONFIG_FILE,
    ENCODER_DIR,
    HEAD_FILE,
    TOKENIZER_DIR,
    ArtifactConfig,
    ModelLoadError,
    backbone_pooling,
    is_classifier_artifact,
    read_artifact_config,
    write_artifact_config,
)
from ..backbone import resolve_backbone

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ADAPTER_DIR",
    "ARTIFACT_FORMAT",
    "ARTIFACT_FORMAT_VERSION",
    "CONFIG_FILE",
    "ENCODER_DIR",
    "HEAD_FILE",
    "TOKENIZER_DIR",
    "ArtifactConfig",
    "BaseEncoder",
    "ModelLoadError",
    "TextClassifier",
    "backbone_pooling",
    "batched_forward",
    "is_classifier_artifact",
    "load_base",
    "load_classifier",
    "load_encoder",
    "load_tokenizer",
    "pad_batch",
    "read_artifact_config",
    "save_head",
    "tokenize",
    "write_artifact_config",
]

log = logging.getLogger(__name__)


class TextClassifier(nn.Module):
    """encoder -> pooling (-> L2 normalisation) -> dropout -> linear: logits per label."""

    def __init__(self, encoder: nn.Module, num_labels: int, *, pooling: str = "mean",
                 normalize: bool = False, dropout: float = 0.1) -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"unknown pooling {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = normalize
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def embed(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
              inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """The sentence embedding the head sees (what the backbone was trained to produce)."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds)
        hidden = out.last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.normalize:
            pooled = nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Logits; pass `inputs_embeds` (from `input_embeddings()`) to get gradients w.r.t. them."""
        pooled = self.embed(input_ids, attention_mask, inputs_embeds)
        return self.head(self.dropout(pooled))

    def input_embeddings(self) -> nn.Module:
        """The token embedding layer (for attributions and adversarial perturbations)."""
        return self.encoder.get_input_embeddings()


def load_encoder(source: str) -> nn.Module:
    """A transformers encoder from a local folder or hub id (offline by default).

    BERT's own pooler (a tanh layer on [CLS]) is left out: sentence encoders were trained with
    mean pooling, and its weights would only be dead weight. transformers reports those
    weights as unexpected; that report is silenced because it is expected.
    """
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        config = AutoConfig.from_pretrained(source)
        if config.model_type in ("bert", "roberta", "xlm-roberta"):
            return AutoModel.from_pretrained(source, config=config, add_pooling_layer=False)
        return AutoModel.from_pretrained(source, config=config)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot load encoder from {source}: {exc}. Set the base model to a local folder, "
            "or HF_HUB_OFFLINE=0 with internet access."
        ) from exc
    finally:
        hf_logging.set_verbosity(verbosity)


def load_tokenizer(source: str | Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(source))
    except OSError as exc:
        raise ModelLoadError(f"cannot load a tokenizer from {source}: {exc}") from exc


def save_head(model: TextClassifier, folder: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}
    save_file(state, str(folder / HEAD_FILE))


@dataclass
class BaseEncoder:
    """What a training starts from: an encoder, its tokenizer and its pooling."""

    encoder: nn.Module
    tokenizer: Any
    pooling: str
    normalize: bool
    source: str


def load_base(name: str) -> BaseEncoder:
    """A backbone by name or folder, or the encoder of a trained classifier artifact.

    Starting from a classifier (e.g. one fine-tuned on a related task, or the version that
    serves now) continues from its fine-tuned encoder, pooling and tokenizer; a new head is
    put on top for the new labels.
    """
    if is_classifier_artifact(Path(name).expanduser()):
        folder = Path(name).expanduser()
        encoder, config = _artifact_encoder(folder)
        return BaseEncoder(encoder, load_tokenizer(folder / TOKENIZER_DIR), config.pooling, config.normalize,
                           str(folder.resolve()))
    source = resolve_backbone(name)
    pooling, normalize = backbone_pooling(source)
    return BaseEncoder(load_encoder(source), load_tokenizer(source), pooling, normalize, source)


def _artifact_encoder(folder: Path) -> tuple[nn.Module, ArtifactConfig]:
    config = read_artifact_config(folder)
    if config.method == "full":
        return load_encoder(str(folder / ENCODER_DIR)), config
    if config.method not in ("head", "lora"):
        raise ModelLoadError(f"{folder}: unknown method {config.method!r}")
    encoder = load_base(config.base_model).encoder
    if config.method == "lora":
        from peft import PeftModel

        encoder = PeftModel.from_pretrained(encoder, str(folder / ADAPTER_DIR)).merge_and_unload()
    return encoder, config


def load_classifier(folder: Path | str, *, device: str = "cpu") -> tuple[TextClassifier, Any, ArtifactConfig]:
    """(model in eval mode on `device`, tokenizer, artifact config) from an artifact folder.

    A LoRA artifact is merged into its base encoder here, so serving runs one plain network.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    encoder, config = _artifact_encoder(folder)
    model = TextClassifier(encoder, len(config.labels), pooling=config.pooling, normalize=config.normalize,
                           dropout=0.0)
    head_state = load_file(str(folder / HEAD_FILE))
    model.head.load_state_dict(head_state)
    tokenizer = load_tokenizer(folder / TOKENIZER_DIR)
    model.to(device).eval()
    return model, tokenizer, config


def tokenize(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids per text, cut at max_length (no padding: batches pad to their longest)."""
    if not texts:
        return []
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def pad_batch(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attention_mask[row, : len(seq)] = 1
    return input_ids, attention_mask


@torch.no_grad()
def batched_forward(fn, sequences: list[list[int]], *, pad_id: int, batch_size: int, device: str,
                    autocast=None, progress=None) -> np.ndarray:
    """Run fn(input_ids, attention_mask) over all sequences in length-sorted batches.

    Sorting by length keeps padding (wasted work) small; rows come back in input order.
    """
    from contextlib import nullcontext

    import numpy as np

    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    outputs: list[np.ndarray] = []
    for start in range(0, len(order), batch_size):
        chunk = [sequences[i] for i in order[start : start + batch_size]]
        input_ids, attention_mask = pad_batch(chunk, pad_id)
        with autocast() if autocast else nullcontext():
            out = fn(input_ids.to(device), attention_mask.to(device))
        outputs.append(out.float().cpu().numpy())
        if progress is not None:
            done = min(start + batch_size, len(order))
            progress(100.0 * done / len(order), f"scored {done}/{len(order)} texts")
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    stacked = np.concatenate(outputs)
    result = np.empty_like(stacked)
    result[np.asarray(order)] = stacked
    return result
