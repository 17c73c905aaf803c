"""Back-translation: translate to a pivot language and back, which rewords a text.

No translation model ships with the suite, so this augmenter is pluggable: give two local
sequence-to-sequence model folders (transformers format), source -> pivot and pivot -> source,
e.g. Helsinki-NLP/opus-mt-en-de and opus-mt-de-en saved with `save_pretrained`. Without them
it is unavailable, and asking for it raises `BackTranslationUnavailable` saying so and how to
configure it. Outputs are cached on disk like paraphrases.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UserError
from ..progress import ProgressCallback, no_progress
from .paraphrase import ParaphraseCache, clean_paraphrase, default_cache_dir

log = logging.getLogger(__name__)

HOW_TO_CONFIGURE = (
    "give two local translation model folders, source->pivot and pivot->source (e.g. opus-mt-en-de and "
    "opus-mt-de-en saved with save_pretrained): augmentation option translation_models=[FORWARD, BACKWARD], "
    "CLI --translation-models FORWARD,BACKWARD, or ML_TRANSLATION_MODELS in the app's environment"
)


class BackTranslationUnavailable(UserError):
    """No usable translation model is configured."""


def backtranslation_status(models: Sequence[str] | None) -> tuple[bool, str]:
    """(available, why): whether back-translation can run with these model folders."""
    models = [m for m in (models or []) if m]
    if not models:
        return False, f"back-translation is unavailable: no translation model is configured; {HOW_TO_CONFIGURE}"
    if len(models) != 2:
        return False, f"back-translation needs exactly two model folders, got {len(models)}; {HOW_TO_CONFIGURE}"
    for path in models:
        if not (Path(path) / "config.json").is_file():
            return False, f"back-translation is unavailable: {path} is not a model folder (no config.json)"
    return True, "back-translation is available"


@dataclass(frozen=True)
class BackTranslationSettings:
    max_new_tokens: int = 96
    num_beams: int = 1  # greedy: deterministic and the fastest on a CPU
    batch_size: int = 16

    def cache_fields(self) -> dict:
        fields = asdict(self)
        fields.pop("batch_size")
        return fields


class BackTranslator:
    def __init__(self, models: Sequence[str], settings: BackTranslationSettings | None = None, *,
                 cache_dir: Path | str | None = "default", device: str = "cpu") -> None:
        available, why = backtranslation_status(models)
        if not available:
            raise BackTranslationUnavailable(why)
        self.forward_dir, self.backward_dir = [str(Path(m).resolve()) for m in models]
        self.settings = settings or BackTranslationSettings()
        self.device = device
        self.model_id = f"backtranslation:{self.forward_dir}|{self.backward_dir}"
        if cache_dir == "default":
            cache_dir = default_cache_dir()
        self.cache = ParaphraseCache(Path(cache_dir) / "paraphrases.sqlite" if cache_dir else None)
        self._models: dict[str, tuple] = {}
        self.stats = {"generated": 0, "cached": 0, "generation_seconds": 0.0}

    def _load(self, folder: str):
        if folder not in self._models:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(folder)
                model = AutoModelForSeq2SeqLM.from_pretrained(folder).to(self.device).eval()
            except (OSError, ValueError) as exc:
                raise BackTranslationUnavailable(f"cannot load translation model {folder}: {exc}") from exc
            self._models[folder] = (tokenizer, model)
        return self._models[folder]

    def translate(self, texts: list[str], folder: str) -> list[str]:
        import torch

        tokenizer, model = self._load(folder)
        out: list[str] = []
        size = self.settings.batch_size
        for start in range(0, len(texts), size):
            batch = tokenizer(texts[start : start + size], return_tensors="pt", padding=True, truncation=True,
                              max_length=256).to(self.device)
            batch.pop("token_type_ids", None)
            with torch.no_grad():
                generated = model.generate(**batch, max_new_tokens=self.settings.max_new_tokens,
                                           num_beams=self.settings.num_beams, do_sample=False)
            out.extend(tokenizer.batch_decode(generated, skip_special_tokens=True))
        return [t.strip() for t in out]

    def back_translate(self, texts: Sequence[str], progress: ProgressCallback = no_progress) -> list[list[str]]:
        """One back-translation per text (an empty list where it came back unchanged or unusable)."""
        texts = list(texts)
        keys = [ParaphraseCache.key(self.model_id, self.settings, t) for t in texts]
        cached = self.cache.get_many(sorted(set(keys)))
        todo = {k: t for k, t in zip(keys, texts) if k not in cached}
        self.stats["cached"] += len(texts) - sum(1 for k in keys if k not in cached)
        if todo:
            started = time.perf_counter()
            items = list(todo.items())
            progress(5.0, f"translating {len(items)} texts to the pivot language")
            pivot = self.translate([t for _, t in items], self.forward_dir)
            progress(50.0, "translating back")
            back = self.translate(pivot, self.backward_dir)
            fresh = {}
            for (key, source), result in zip(items, back):
                cleaned = clean_paraphrase(result, source)
                fresh[key] = [cleaned] if cleaned else []
            self.cache.put_many(fresh)
            cached.update(fresh)
            self.stats["generated"] += len(items)
            self.stats["generation_seconds"] += round(time.perf_counter() - started, 2)
        progress(100.0, f"back-translated {len(texts)} texts")
        return [list(cached[k]) for k in keys]
