"""Tiny randomly initialised models for tests of plumbing (never for claims about quality).

`build_tiny_encoder` writes a folder laid out like the bundled all-MiniLM-L6-v2 (a BERT encoder,
mean pooling, the same tokenizer) but with a few thousand parameters per layer, so code that
loads "a backbone" runs in milliseconds.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .backbone import resolve_backbone

_TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def build_tiny_encoder(folder: Path | str, hidden_size: int = 32, layers: int = 2, heads: int = 2,
                       seed: int = 0, max_length: int = 64) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=hidden_size, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=hidden_size * 2,
        max_position_embeddings=max(128, max_length),
    )
    BertModel(config).save_pretrained(folder)
    bundled = Path(resolve_backbone(None))
    for name in _TOKENIZER_FILES:
        shutil.copy(bundled / name, folder / name)
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": hidden_size, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_length, "do_lower_case": False})
    )
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    return folder
