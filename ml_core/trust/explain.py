"""Token attributions: which words made a model say what it said.

Integrated gradients (Sundararajan et al. 2017; captum's implementation) on the token
embeddings. The path runs from a baseline in which every word piece is replaced by the padding
token (the [CLS]/[SEP] markers and the positions stay) to the real input; a token's score is
the path integral of the gradient times the change of its embedding, summed over the hidden
dimensions. The scores add up, within `convergence_delta`, to the explained value at the input
minus its value at the baseline, so they can be read as "how much of the probability each word
brought".

Two things are explained:
- `Explainer`: a classifier's calibrated probability of one label (by default the predicted one),
  for any artifact that ml_core.training writes;
- `SimilarityExplainer`: the cosine similarity between a text's sentence embedding and a
  reference vector (e.g. a user's taste profile in the recommender).

Word pieces are merged into the words the tokenizer's pre-tokenizer saw (scores add), with
character offsets into the text, so a page can highlight the text exactly as written
(`Explanation.segments()`). Gradients are taken with respect to the embeddings fed through
`inputs_embeds`; no hook is put on the model, so a model shared with serving threads is safe to
explain beside them. Cost: `steps` forward and backward passes of one text, batched;
`Explainer.explain_many` puts several texts through the same passes (padded, masked).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError

DEFAULT_STEPS = 20
METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left", "riemann_right")


@dataclass(frozen=True)
class ExplainSettings:
    """How integrated gradients is run. 20 Gauss-Legendre steps keep the completeness gap small
    for MiniLM-sized encoders; more steps cost proportionally more time."""

    steps: int = DEFAULT_STEPS
    method: str = "gausslegendre"
    # Interpolation points per forward pass (None: all steps in one batch).
    internal_batch_size: int | None = None

    def validate(self) -> ExplainSettings:
        if not 2 <= int(self.steps) <= 512:
            raise UserError(f"steps must be between 2 and 512, not {self.steps}")
        if self.method not in METHODS:
            raise UserError(f"unknown integration method {self.method!r}; known: {', '.join(METHODS)}")
        if self.internal_batch_size is not None and self.internal_batch_size < 1:
            raise UserError("internal_batch_size must be at least 1")
        return self


@dataclass
class Attribution:
    """A token or a word: its text as written, its score, and where it is in the text."""

    text: str
    score: float
    start: int | None = None
    end: int | None = None


@dataclass
class Explanation:
    text: str  # the text the model read
    target: str  # what was explained, in words
    value: float  # the explained quantity at the input (e.g. the label's probability)
    baseline_value: float  # ... and at the all-padding baseline
    tokens: list[Attribution]  # word pieces, special tokens left out
    words: list[Attribution]  # pieces merged into words
    convergence_delta: float  # sum(scores) - (value - baseline_value): small when steps suffice
    steps: int
    seconds: float
    truncated: bool = False  # the text was longer than the model reads; the rest has no score
    label: str | None = None
    label_index: int | None = None
    probabilities: dict[str, float] = field(default_factory=dict)

    def top_words(self, k: int = 5, *, positive: bool = True) -> list[Attribution]:
        """The k words that raised (positive) or lowered the explained value most."""
        sign = 1.0 if positive else -1.0
        ranked = sorted((w for w in self.words if sign * w.score > 0), key=lambda w: -sign * w.score)
        return ranked[:k]

    def segments(self) -> list[dict[str, Any]]:
        """The whole text in order, as pieces with a score (words) or without (spaces, punctuation
        between words, and the unread tail of a truncated text). `weight` is the score divided by
        the largest absolute word score: -1..1, for colouring."""
        scale = max((abs(w.score) for w in self.words), default=0.0) or 1.0
        out: list[dict[str, Any]] = []
        cursor = 0
        for word in sorted((w for w in self.words if w.start is not None), key=lambda w: w.start):
            if word.start < cursor:
                continue  # overlapping offsets (never from a fast tokenizer); keep the text readable
            if word.start > cursor:
                out.append({"text": self.text[cursor:word.start], "score": None, "weight": None})
            out.append({"text": self.text[word.start:word.end], "score": word.score,
                        "weight": round(word.score / scale, 4)})
            cursor = word.end
        if cursor < len(self.text):
            out.append({"text": self.text[cursor:], "score": None, "weight": None, "unread": self.truncated})
        return out

    def to_dict(self, digits: int = 5) -> dict[str, Any]:
        def rounded(items: list[Attribution]) -> list[dict[str, Any]]:
            return [{**asdict(a), "score": round(a.score, digits)} for a in items]

        return {
            "text": self.text, "target": self.target, "label": self.label, "label_index": self.label_index,
            "value": round(self.value, digits), "baseline_value": round(self.baseline_value, digits),
            "probabilities": {k: round(v, digits) for k, v in self.probabilities.items()},
            "tokens": rounded(self.tokens), "words": rounded(self.words),
            "segments": [{**s, "score": None if s["score"] is None else round(s["score"], digits)}
                         for s in self.segments()],
            "convergence_delta": round(self.convergence_delta, digits), "steps": self.steps,
            "seconds": round(self.seconds, 4), "truncated": self.truncated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Explanation:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["tokens"] = [Attribution(**t) for t in data.get("tokens", [])]
        known["words"] = [Attribution(**w) for w in data.get("words", [])]
        return cls(**known)


@dataclass
class _Encoded:
    ids: list[int]
    baseline_ids: list[int]
    special: list[bool]
    offsets: list[tuple[int, int] | None]
    word_ids: list[int | None]
    truncated: bool


class _TokenAttributor:
    """Integrated gradients of a scalar function of a text encoder's output, per token."""

    def __init__(self, wrapper, tokenizer, *, max_length: int, device: str = "cpu",
                 settings: ExplainSettings | None = None) -> None:
        self.wrapper = wrapper  # ml_core.training.model.TextClassifier (its embed() and forward())
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.device = device
        self.settings = (settings or ExplainSettings()).validate()
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        # One explanation at a time per model: each already uses every CPU thread.
        self._lock = threading.Lock()

    # --- tokens ------------------------------------------------------------------------------
    def encode(self, text: str) -> _Encoded:
        if not isinstance(text, str) or not text.strip():
            raise UserError("the text to explain is empty")
        full = self.tokenizer(text, truncation=False, add_special_tokens=True)["input_ids"]
        enc = self.tokenizer(text, truncation=True, max_length=self.max_length, return_offsets_mapping=True,
                             return_special_tokens_mask=True)
        ids = list(enc["input_ids"])
        special = [bool(s) for s in enc["special_tokens_mask"]]
        offsets = [tuple(o) if not sp and o[1] > o[0] else None for o, sp in zip(enc["offset_mapping"], special)]
        try:
            word_ids = list(enc.word_ids())
        except (AttributeError, ValueError):  # a slow tokenizer: every piece is its own word
            word_ids = [None if sp else i for i, sp in enumerate(special)]
        baseline = [token if sp else self.pad_id for token, sp in zip(ids, special)]
        return _Encoded(ids, baseline, special, offsets, word_ids, truncated=len(full) > len(ids))

    def _embeddings(self, ids):
        import torch

        with torch.no_grad():
            return self.wrapper.input_embeddings()(ids.to(self.device)).float()

    def _attribute(self, encoded: Sequence[_Encoded], score: Callable, extra: tuple = ()
                   ) -> list[tuple[np.ndarray, float, float, float]]:
        """Per text: (per-token scores, value at the input, value at the baseline, convergence delta).

        The texts go through integrated gradients together, padded to the longest with an
        attention mask: `score(embeds, attention_mask, *extra)` returns one value per row, and
        each tensor in `extra` has one row per text. One pass over B texts x steps rows costs far
        less than B passes on a CPU (short texts leave each layer call mostly overhead)."""
        import torch
        from captum.attr import IntegratedGradients

        from ..training.model import pad_batch

        ids, mask = pad_batch([e.ids for e in encoded], self.pad_id)
        baseline_ids, _ = pad_batch([e.baseline_ids for e in encoded], self.pad_id)
        mask = mask.to(self.device)
        inputs, baseline = self._embeddings(ids), self._embeddings(baseline_ids)
        settings = self.settings
        rows = settings.internal_batch_size or settings.steps
        with torch.enable_grad():
            attributions, delta = IntegratedGradients(score).attribute(
                inputs, baselines=baseline, additional_forward_args=(mask, *extra), n_steps=settings.steps,
                method=settings.method, internal_batch_size=max(rows, 1) * len(encoded),
                return_convergence_delta=True)
        with torch.no_grad():
            values = score(torch.cat([inputs, baseline]), torch.cat([mask, mask]),
                           *(torch.cat([x, x]) for x in extra)).float().cpu().numpy()
        per_token = attributions.sum(dim=-1).detach().float().cpu().numpy()
        deltas = delta.detach().abs().float().cpu().numpy().reshape(-1)
        n = len(encoded)
        return [(per_token[i, :len(e.ids)], float(values[i]), float(values[n + i]), float(deltas[i]))
                for i, e in enumerate(encoded)]

    def _pieces(self, text: str, encoded: _Encoded, per_token: np.ndarray) -> tuple[list[Attribution], list[Attribution]]:
        tokens: list[Attribution] = []
        words: dict[int, Attribution] = {}
        order: list[int] = []
        pieces = self.tokenizer.convert_ids_to_tokens(encoded.ids)
        for i, (special, offset, word) in enumerate(zip(encoded.special, encoded.offsets, encoded.word_ids)):
            if special:
                continue
            start, end = offset if offset else (None, None)
            shown = text[start:end] if offset else pieces[i]
            tokens.append(Attribution(shown, float(per_token[i]), start, end))
            key = word if word is not None else -(i + 1)
            if key not in words:
                words[key] = Attribution(shown, 0.0, start, end)
                order.append(key)
            merged = words[key]
            merged.score += float(per_token[i])
            if offset:
                merged.start = start if merged.start is None else min(merged.start, start)
                merged.end = end if merged.end is None else max(merged.end, end)
                merged.text = text[merged.start:merged.end]
        return tokens, [words[k] for k in order]


class Explainer(_TokenAttributor):
    """Attributions of a text classifier's calibrated probabilities.

    Build it from an artifact folder (`Explainer.load`) or from a loaded predictor
    (`Explainer.from_predictor`, which reuses the predictor's PyTorch network when it has one).
    """

    def __init__(self, model, tokenizer, *, labels: Sequence[str], temperature: float = 1.0, max_length: int = 128,
                 device: str = "cpu", settings: ExplainSettings | None = None) -> None:
        super().__init__(model, tokenizer, max_length=max_length, device=device, settings=settings)
        self.labels = list(labels)
        self.temperature = float(temperature)

    @classmethod
    def load(cls, folder: Path | str, *, device: str = "cpu", settings: ExplainSettings | None = None) -> Explainer:
        from ..backbone import select_device
        from ..training.model import load_classifier

        device = select_device(device).device
        model, tokenizer, config = load_classifier(folder, device=device)
        return cls(model, tokenizer, labels=config.labels, temperature=config.temperature,
                   max_length=config.max_length, device=device, settings=settings)

    @classmethod
    def from_predictor(cls, predictor, *, settings: ExplainSettings | None = None) -> Explainer:
        """Share the predictor's PyTorch network when it serves one, else load the folder's."""
        backend = predictor.backend
        model = getattr(backend, "model", None)
        if model is not None and hasattr(model, "input_embeddings") and hasattr(backend, "tokenizer"):
            return cls(model, backend.tokenizer, labels=predictor.labels, temperature=predictor.temperature,
                       max_length=predictor.config.max_length, device=getattr(backend, "device", "cpu"),
                       settings=settings)
        if predictor.folder is None:
            raise UserError("this predictor has no PyTorch network nor an artifact folder to explain")
        return cls.load(predictor.folder, device="cpu", settings=settings)

    def _label_index(self, target: str | int | None, probabilities: np.ndarray) -> int:
        if target is None:
            return int(np.argmax(probabilities))
        if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            if not 0 <= int(target) < len(self.labels):
                raise UserError(f"label index {target} is out of range (the model has {len(self.labels)} labels)")
            return int(target)
        if target not in self.labels:
            raise UserError(f"unknown label {target!r}; the model knows: {', '.join(self.labels)}")
        return self.labels.index(target)

    def probabilities_of_ids(self, sequences: Sequence[Sequence[int]], batch_size: int = 64) -> np.ndarray:
        """Calibrated probabilities for already tokenised inputs (rows may have any length)."""
        import torch

        from ..training.model import pad_batch

        out = []
        with torch.no_grad():
            for start in range(0, len(sequences), batch_size):
                chunk = [list(s) for s in sequences[start:start + batch_size]]
                ids, mask = pad_batch(chunk, self.pad_id)
                logits = self.wrapper(ids.to(self.device), mask.to(self.device)).float()
                out.append(torch.softmax(logits / self.temperature, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)

    def explain(self, text: str, target: str | int | None = None) -> Explanation:
        """Attributions of P(target | text); target defaults to the predicted label."""
        return self.explain_many([text], targets=[target])[0]

    def explain_many(self, texts: Sequence[str], *, targets: Sequence[str | int | None] | None = None,
                     batch_size: int = 8) -> list[Explanation]:
        """`explain` for several texts (each its predicted label unless `targets` says),
        `batch_size` texts per integrated-gradients pass: the same scores as one at a time, in
        a fraction of the time. Each explanation's `seconds` is its share of its batch's time."""
        import torch

        targets = list(targets) if targets is not None else [None] * len(texts)
        if len(targets) != len(texts):
            raise UserError("give one target per text")
        temperature = self.temperature

        def score(embeds, attention_mask, index):
            logits = self.wrapper(inputs_embeds=embeds, attention_mask=attention_mask)
            return torch.softmax(logits.float() / temperature, dim=-1).gather(1, index.unsqueeze(1)).squeeze(1)

        out: list[Explanation] = []
        batch_size = max(1, int(batch_size))
        for start in range(0, len(texts), batch_size):
            started = time.perf_counter()
            chunk = list(texts[start:start + batch_size])
            encoded = [self.encode(text) for text in chunk]
            with self._lock:
                probabilities = self.probabilities_of_ids([e.ids for e in encoded])
                indices = [self._label_index(t, p) for t, p in zip(targets[start:start + batch_size], probabilities)]
                index = torch.tensor(indices, dtype=torch.long, device=self.device)
                attributed = self._attribute(encoded, score, (index,))
            seconds = (time.perf_counter() - started) / len(chunk)
            for text, enc, label_index, row, (per_token, value, baseline_value, delta) in zip(
                    chunk, encoded, indices, probabilities, attributed):
                tokens, words = self._pieces(text, enc, per_token)
                label = self.labels[label_index]
                out.append(Explanation(
                    text=text, target=f"probability of {label!r}", value=value, baseline_value=baseline_value,
                    tokens=tokens, words=words, convergence_delta=delta, steps=self.settings.steps,
                    seconds=seconds, truncated=enc.truncated, label=label, label_index=label_index,
                    probabilities={name: float(p) for name, p in zip(self.labels, row)},
                ))
        return out


class SimilarityExplainer(_TokenAttributor):
    """Attributions of cos(sentence embedding of a text, reference vector).

    `centre`, when given, is subtracted from the (normalised) embedding before the cosine, as
    recommenders do with the catalogue mean (ml_core.recsys.models.ContentModel).
    """

    @classmethod
    def from_sentence_transformer(cls, encoder, *, normalize: bool | None = None,
                                  settings: ExplainSettings | None = None) -> SimilarityExplainer:
        """Wrap a loaded sentence-transformers model (its first module, pooling and normalisation).

        `normalize=True` L2-normalises the pooled embedding as `encode(normalize_embeddings=True)`
        does (ml_core.backbone.encode_texts by default); None keeps the model's own modules."""
        from ..training.model import TextClassifier

        first = encoder[0]
        pooling, own_normalize = "mean", False
        for module in list(encoder)[1:]:
            name = type(module).__name__
            if name == "Normalize":
                own_normalize = True
            elif name == "Pooling":
                mode = getattr(module, "pooling_mode", None) or (
                    "cls" if getattr(module, "pooling_mode_cls_token", False) else "mean")
                pooling = "cls" if mode == "cls" else "mean"
        normalize = own_normalize if normalize is None else bool(normalize)
        wrapper = TextClassifier(first.auto_model, 1, pooling=pooling, normalize=normalize, dropout=0.0)
        wrapper.eval()
        device = str(next(first.auto_model.parameters()).device)
        return cls(wrapper, first.tokenizer, max_length=int(first.max_seq_length or 256), device=device,
                   settings=settings)

    def explain(self, text: str, reference: np.ndarray, *, centre: np.ndarray | None = None,
                what: str = "similarity to the reference") -> Explanation:
        import torch

        started = time.perf_counter()
        encoded = self.encode(text)
        reference_t = torch.as_tensor(np.asarray(reference, dtype=np.float32).reshape(-1), device=self.device)
        reference_t = reference_t / reference_t.norm().clamp(min=1e-12)
        centre_t = None if centre is None else torch.as_tensor(
            np.asarray(centre, dtype=np.float32).reshape(-1), device=self.device)

        def score(embeds, attention_mask):
            pooled = self.wrapper.embed(inputs_embeds=embeds, attention_mask=attention_mask).float()
            if centre_t is not None:
                pooled = pooled - centre_t
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
            return pooled @ reference_t

        with self._lock:
            ((per_token, value, baseline_value, delta),) = self._attribute([encoded], score)
        tokens, words = self._pieces(text, encoded, per_token)
        return Explanation(text=text, target=what, value=value, baseline_value=baseline_value, tokens=tokens,
                           words=words, convergence_delta=delta, steps=self.settings.steps,
                           seconds=time.perf_counter() - started, truncated=encoded.truncated)
