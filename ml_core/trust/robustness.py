"""How robust is a classifier: accuracy under perturbations, and a word-substitution attack.

1. **Perturbations**: the evaluation set is perturbed with each of the augmentation package's
   noise functions (character noise, keyboard typos, word dropout, word swap, synonym
   replacement), one seeded variant per text, and accuracy is measured on each.
2. **Word-substitution attack** in the style of TextFooler (Jin et al. 2020, "Is BERT Really
   Robust?"), black-box, on the examples the model gets right:
   a. rank words by importance: the drop in the true label's probability when the word is
      deleted (plus the gain of the new label when the prediction changes);
   b. for the most important word first, try its synonyms (the encoder's embedding
      neighbourhood, ml_core.augmentation.synonyms); keep only candidates whose sentence
      embedding stays within `sentence_similarity` (cosine, the backbone encoder) of the
      original; if one flips the prediction, the attack succeeded (the most similar such
      candidate is kept); else keep the substitution that lowers the true label's probability
      most and go on to the next word, changing at most `max_perturbed` of the words.
   Reported: clean accuracy, accuracy under attack, attack success rate (successes / examples
   attacked), model queries per attacked example, share of words changed, and examples.

Every figure is plain JSON (`evaluate_robustness`); the CLI is `python -m ml_core robustness`.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..augmentation import perturb
from ..augmentation.text import (
    is_content_word,
    join_tokens,
    match_case,
    split_tokens,
    stable_rng,
    token_parts,
)
from ..data import LabelledTexts
from ..errors import UserError
from ..evaluation import label_ids
from ..progress import ProgressCallback, no_progress, sub_progress

PERTURBATIONS: dict[str, Callable[..., str]] = {
    "char_noise": perturb.char_noise,
    "typo": perturb.keyboard_typo,
    "word_dropout": perturb.word_dropout,
    "word_swap": perturb.word_swap,
    "synonym": perturb.synonym_replacement,
}
DEFAULT_PERTURBATIONS = tuple(PERTURBATIONS)


@dataclass
class AttackSettings:
    synonyms_per_word: int = 8
    word_similarity: float = 0.7  # cosine of the two words' embeddings
    sentence_similarity: float = 0.8  # cosine of the original and the attacked text's embeddings
    max_perturbed: float = 0.3  # share of a text's words the attack may change
    max_examples: int | None = 500  # attack a seeded sample of this many examples (None: all)
    seed: int = 0

    def validate(self) -> AttackSettings:
        if not (1 <= self.synonyms_per_word <= 50):
            raise UserError("synonyms_per_word must be between 1 and 50")
        if not (0.0 < self.word_similarity < 1.0 and 0.0 <= self.sentence_similarity < 1.0):
            raise UserError("word_similarity must be in (0, 1) and sentence_similarity in [0, 1)")
        if not (0.0 < self.max_perturbed <= 1.0):
            raise UserError("max_perturbed must be in (0, 1]")
        if self.max_examples is not None and self.max_examples < 1:
            raise UserError("max_examples must be at least 1 (or None for all)")
        return self


@dataclass
class RobustnessSettings:
    perturbations: tuple[str, ...] = DEFAULT_PERTURBATIONS
    strength: float = 0.1  # share of words (half of it: characters) each perturbation changes
    attack: AttackSettings | None = field(default_factory=AttackSettings)  # None: no attack
    seed: int = 0

    def validate(self) -> RobustnessSettings:
        unknown = [p for p in self.perturbations if p not in PERTURBATIONS]
        if unknown:
            raise UserError(f"unknown perturbation {', '.join(map(repr, unknown))} "
                            f"(known: {', '.join(PERTURBATIONS)})")
        if not 0.0 < self.strength <= 0.5:
            raise UserError(f"perturbation strength must be in (0, 0.5], not {self.strength}")
        if self.attack is not None:
            self.attack.validate()
        return self


class QueryCounter:
    """The model as the attacker sees it: texts in, probabilities out, every text counted."""

    def __init__(self, predict_proba: Callable[[list[str]], np.ndarray]) -> None:
        self._predict_proba = predict_proba
        self.queries = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.queries += len(texts)
        return np.asarray(self._predict_proba(list(texts)), dtype=np.float64)


@dataclass
class AttackOutcome:
    status: str  # "succeeded" | "failed" | "skipped" (already misclassified)
    queries: int
    original: str
    adversarial: str | None = None
    changed_words: int = 0
    words: int = 0
    original_label: int = -1
    adversarial_label: int | None = None
    similarity: float | None = None


def _word_importance(tokens: list[str], positions: list[int], label: int, base: np.ndarray,
                     model: QueryCounter) -> list[tuple[float, int]]:
    deleted = [join_tokens(tokens[:i] + tokens[i + 1:]) or tokens[i] for i in positions]
    probs = model(deleted)
    scores = []
    for row, i in zip(probs, positions):
        score = base[label] - row[label]
        new = int(row.argmax())
        if new != label:  # TextFooler: deleting it already changes the prediction
            score += row[new] - base[new]
        scores.append((float(score), i))
    return sorted(scores, key=lambda s: (-s[0], s[1]))


def attack_example(text: str, label: int, model: QueryCounter, synonyms, embedder,
                   settings: AttackSettings) -> AttackOutcome:
    """TextFooler-style greedy word substitution against one example (see the module doc)."""
    start_queries = model.queries
    base = model([text])[0]
    tokens = split_tokens(text)
    outcome = AttackOutcome("skipped", 0, text, words=len(tokens), original_label=label)
    if int(base.argmax()) != label:
        outcome.queries = model.queries - start_queries
        return outcome
    positions = [i for i, t in enumerate(tokens) if is_content_word(token_parts(t)[1])
                 and synonyms.synonyms(token_parts(t)[1].lower())]
    budget = max(1, int(settings.max_perturbed * len(tokens)))
    outcome.status = "failed"
    if not positions:
        outcome.queries = model.queries - start_queries
        return outcome
    original_vector = embedder.embed([text])[0]
    current, current_prob, changed = list(tokens), base[label], 0
    for _, i in _word_importance(tokens, positions, label, base, model):
        if changed >= budget:
            break
        prefix, core, suffix = token_parts(tokens[i])
        trials = []
        for word in synonyms.synonyms(core.lower())[: settings.synonyms_per_word]:
            if word.split() == [word]:  # one word for one word: positions stay aligned
                trial = list(current)
                trial[i] = prefix + match_case(word, core) + suffix
                trials.append(trial)
        if not trials:
            continue
        candidates = [join_tokens(t) for t in trials]
        similarity = embedder.embed(candidates) @ original_vector
        allowed = [k for k, s in enumerate(similarity) if s >= settings.sentence_similarity]
        if not allowed:
            continue
        probs = model([candidates[k] for k in allowed])
        predicted = probs.argmax(axis=1)
        flipped = [j for j in range(len(allowed)) if predicted[j] != label]
        if flipped:
            best = max(flipped, key=lambda j: similarity[allowed[j]])
            outcome.status = "succeeded"
            outcome.adversarial = candidates[allowed[best]]
            outcome.adversarial_label = int(predicted[best])
            outcome.similarity = round(float(similarity[allowed[best]]), 4)
            outcome.changed_words = changed + 1
            break
        weakest = int(probs[:, label].argmin())
        if probs[weakest, label] < current_prob:
            current, current_prob = trials[allowed[weakest]], probs[weakest, label]
            changed += 1
    outcome.queries = model.queries - start_queries
    return outcome


def perturbation_accuracy(model: QueryCounter, texts: list[str], y: np.ndarray, names: Sequence[str],
                          strength: float, seed: int, synonyms=None,
                          progress: ProgressCallback = no_progress) -> dict[str, dict[str, float]]:
    results = {}
    clean = float((model(texts).argmax(axis=1) == y).mean()) if len(texts) else 0.0
    for n, name in enumerate(names):
        function = PERTURBATIONS[name]
        extra = {"synonyms": synonyms} if name == "synonym" else {}
        amount = strength / 2 if name == "char_noise" else strength
        perturbed = [function(t, stable_rng(seed, "robustness", name, t), amount, **extra) for t in texts]
        accuracy = float((model(perturbed).argmax(axis=1) == y).mean()) if texts else 0.0
        changed = sum(1 for a, b in zip(texts, perturbed) if a != b)
        results[name] = {"accuracy": round(accuracy, 5), "drop": round(clean - accuracy, 5),
                         "changed_share": round(changed / max(len(texts), 1), 4)}
        progress(100.0 * (n + 1) / len(names), f"{name}: accuracy {accuracy:.4f}")
    return results


def evaluate_robustness(
    predictor,
    data: LabelledTexts,
    *,
    settings: RobustnessSettings | None = None,
    embedder=None,
    synonyms=None,
    vocabulary_texts: Sequence[str] = (),
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """The robustness report of `predictor` (a ClassifierPredictor, or anything with `labels` and
    `predict_proba(texts)`) on labelled `data`.

    `embedder` (ml_core.augmentation.encoder.TextEmbedder) gives the similarity constraint and,
    unless `synonyms` is given, the synonym neighbourhood over the words of `data` and
    `vocabulary_texts` (e.g. the training texts).
    """
    settings = (settings or RobustnessSettings()).validate()
    started = time.perf_counter()
    if not len(data):
        raise UserError("robustness evaluation needs at least one labelled text")
    y = label_ids(data, predictor.labels)
    texts = list(data.texts)
    model = QueryCounter(predictor.predict_proba)
    needs_synonyms = "synonym" in settings.perturbations or settings.attack is not None
    if needs_synonyms and synonyms is None:
        if embedder is None:
            raise UserError("robustness evaluation with synonyms needs the encoder (embedder)")
        from ..augmentation.synonyms import EncoderSynonyms

        progress(1.0, "building the synonym neighbourhood")
        attack = settings.attack or AttackSettings()
        synonyms = EncoderSynonyms.from_texts(texts + list(vocabulary_texts), embedder,
                                              k=attack.synonyms_per_word, min_similarity=attack.word_similarity)
    progress(5.0, "scoring the clean texts")
    clean_probs = model(texts)
    clean_accuracy = float((clean_probs.argmax(axis=1) == y).mean())
    report: dict[str, Any] = {
        "n": len(texts), "labels": len(predictor.labels), "clean_accuracy": round(clean_accuracy, 5),
        "source": data.source, "settings": {"perturbations": list(settings.perturbations),
                                            "strength": settings.strength, "seed": settings.seed},
    }
    if synonyms is not None and hasattr(synonyms, "describe"):
        report["synonyms"] = synonyms.describe()
    span = 40.0 if settings.attack is not None else 95.0
    report["perturbations"] = perturbation_accuracy(
        model, texts, y, settings.perturbations, settings.strength, settings.seed, synonyms,
        progress=sub_progress(progress, 5.0, span))
    if settings.attack is not None:
        report["attack"] = word_substitution_attack(
            model, texts, y, synonyms, embedder, settings.attack, labels=predictor.labels,
            progress=sub_progress(progress, span, 99.0))
    report["seconds"] = round(time.perf_counter() - started, 2)
    progress(100.0, "robustness evaluated")
    return report


def word_substitution_attack(model: QueryCounter, texts: list[str], y: np.ndarray, synonyms, embedder,
                             settings: AttackSettings, *, labels: Sequence[str],
                             progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Attack a seeded sample of the examples; the figures of the attack section of the report."""
    if embedder is None:
        raise UserError("the word-substitution attack needs the encoder for its similarity constraint")
    indices = list(range(len(texts)))
    if settings.max_examples is not None and len(indices) > settings.max_examples:
        indices = sorted(random.Random(settings.seed).sample(indices, settings.max_examples))
    outcomes: list[AttackOutcome] = []
    started = time.perf_counter()
    for n, i in enumerate(indices):
        outcomes.append(attack_example(texts[i], int(y[i]), model, synonyms, embedder, settings))
        if (n + 1) % 10 == 0 or n + 1 == len(indices):
            progress(100.0 * (n + 1) / len(indices), f"attacked {n + 1}/{len(indices)} examples")
    total = len(outcomes)
    succeeded = [o for o in outcomes if o.status == "succeeded"]
    attacked = [o for o in outcomes if o.status != "skipped"]
    correct = len(attacked)
    examples = [{
        "original": o.original, "adversarial": o.adversarial, "label": labels[o.original_label],
        "predicted": labels[o.adversarial_label] if o.adversarial_label is not None else None,
        "changed_words": o.changed_words, "similarity": o.similarity,
    } for o in succeeded[:8]]
    return {
        "n": total,
        "clean_accuracy": round(correct / max(total, 1), 5),
        "accuracy_under_attack": round((correct - len(succeeded)) / max(total, 1), 5),
        "attack_success_rate": round(len(succeeded) / max(correct, 1), 5),
        "attacked": correct, "succeeded": len(succeeded), "skipped_misclassified": total - correct,
        "queries_per_example": round(sum(o.queries for o in attacked) / max(correct, 1), 2),
        "perturbed_word_share": round(
            float(np.mean([o.changed_words / max(o.words, 1) for o in succeeded])) if succeeded else 0.0, 4),
        "seconds": round(time.perf_counter() - started, 2),
        "settings": asdict(settings),
        "examples": examples,
    }


def robustness_of_model(model_dir, data: LabelledTexts, *, settings: RobustnessSettings | None = None,
                        device: str = "cpu", vocabulary_texts: Sequence[str] = (), lexicon: str | None = None,
                        similarity_encoder: str | None = None,
                        progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """`evaluate_robustness` for a classifier folder: loads it, and the backbone it was trained from
    (or `similarity_encoder`) for the similarity constraint and the synonym neighbourhood."""
    from ..augmentation.encoder import TextEmbedder
    from ..augmentation.synonyms import load_lexicon
    from ..serving import ClassifierPredictor

    progress(0.0, "loading the model")
    predictor = ClassifierPredictor.load(model_dir, device=device)
    embedder = TextEmbedder(similarity_encoder or predictor.base_model, device=predictor.backend.device
                            if hasattr(predictor.backend, "device") else "cpu")
    synonyms = load_lexicon(lexicon) if lexicon else None
    report = evaluate_robustness(predictor, data, settings=settings, embedder=embedder, synonyms=synonyms,
                                 vocabulary_texts=vocabulary_texts, progress=sub_progress(progress, 2.0, 100.0))
    report.update({"model": str(model_dir), "method": predictor.method, "base_model": predictor.base_model,
                   "similarity_encoder": similarity_encoder or predictor.base_model})
    return report
