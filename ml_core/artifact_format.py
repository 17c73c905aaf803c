"""The classifier artifact format: what a saved classifier's folder holds and how its
`classifier.json` is read and written (plain Python: no torch needed to inspect an artifact).

Artifact folder (self-describing; `read_artifact_config` checks the format):

    classifier.json     format, method, base model id, labels (id order), pooling, max_length,
                        calibration temperature, the full training config
    head.safetensors    the linear head
    tokenizer/          the tokenizer files
    encoder/            method "full": the fine-tuned encoder (transformers format)
    adapter/            method "lora": the peft adapter only (merged into the base on load)
    metrics.json  curves.json  evaluation.json  training_data.json

Saved artifacts and older code import these names from `ml_core.training.model`, which still
provides them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError

__all__ = [
    "ADAPTER_DIR", "ARTIFACT_FORMAT", "ARTIFACT_FORMAT_VERSION", "CONFIG_FILE", "ENCODER_DIR", "HEAD_FILE",
    "TOKENIZER_DIR", "ArtifactConfig", "ModelLoadError", "backbone_pooling", "is_classifier_artifact",
    "read_artifact_config", "write_artifact_config",
]

ARTIFACT_FORMAT = "ml_core.text_classifier"
ARTIFACT_FORMAT_VERSION = 1
CONFIG_FILE = "classifier.json"
HEAD_FILE = "head.safetensors"
TOKENIZER_DIR = "tokenizer"
ENCODER_DIR = "encoder"
ADAPTER_DIR = "adapter"


class ModelLoadError(UserError):
    """An artifact folder is not a classifier this code can load."""


def backbone_pooling(source: str) -> tuple[str, bool]:
    """(pooling, normalize) of a sentence-transformers folder; mean + no normalisation otherwise."""
    folder = Path(source)
    pooling, normalize = "mean", False
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return pooling, normalize
    try:
        modules = json.loads(modules_file.read_text())
    except ValueError:
        return pooling, normalize
    for module in modules:
        kind = module.get("type", "")
        if kind.endswith("Normalize"):
            normalize = True
        elif kind.endswith("Pooling"):
            config_file = folder / module.get("path", "") / "config.json"
            if config_file.is_file():
                cfg = json.loads(config_file.read_text())
                if cfg.get("pooling_mode_cls_token"):
                    pooling = "cls"
                elif cfg.get("pooling_mode_mean_tokens"):
                    pooling = "mean"
    return pooling, normalize


@dataclass
class ArtifactConfig:
    """What classifier.json says about a saved classifier."""

    method: str
    base_model: str
    labels: list[str]
    pooling: str
    normalize: bool
    max_length: int
    temperature: float
    training_config: dict[str, Any]
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT, "format_version": ARTIFACT_FORMAT_VERSION,
            "method": self.method, "base_model": self.base_model, "labels": self.labels,
            "label2id": {label: i for i, label in enumerate(self.labels)},
            "pooling": self.pooling, "normalize": self.normalize, "max_length": self.max_length,
            "temperature": self.temperature, "training_config": self.training_config, **self.extra,
        }


def write_artifact_config(folder: Path, config: ArtifactConfig) -> None:
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True))


def read_artifact_config(folder: Path | str) -> ArtifactConfig:
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ModelLoadError(f"{folder} is not a classifier artifact: it has no {CONFIG_FILE}")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
    if data.get("format") != ARTIFACT_FORMAT:
        raise ModelLoadError(f"{path} is not a {ARTIFACT_FORMAT} artifact (format {data.get('format')!r})")
    if int(data.get("format_version", 0)) > ARTIFACT_FORMAT_VERSION:
        raise ModelLoadError(
            f"{folder} was written by a newer ml_core (format {data['format_version']}); upgrade to load it"
        )
    known = {"format", "format_version", "method", "base_model", "labels", "label2id", "pooling",
             "normalize", "max_length", "temperature", "training_config"}
    return ArtifactConfig(
        method=data["method"], base_model=data["base_model"], labels=list(data["labels"]),
        pooling=data["pooling"], normalize=bool(data["normalize"]), max_length=int(data["max_length"]),
        temperature=float(data.get("temperature", 1.0)), training_config=data.get("training_config", {}),
        extra={k: v for k, v in data.items() if k not in known},
    )


def is_classifier_artifact(path: str | Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()
