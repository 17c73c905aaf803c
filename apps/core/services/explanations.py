"""Explanations for the apps: which words drove a prediction, computed on demand and cached.

Nothing here runs on the chat or scoring path. A page asks for an explanation when an operator
opens a document or a reply (the apps load it with htmx after the page), the result is kept
in Django's cache (CACHE_URL) for `EXPLANATION_CACHE_S`, keyed by the model version, the text
and the target, so opening it again is instant and every web process can share it when the
cache is shared (Redis). Explainers are loaded once per process and model version.

- `classifier_explanation(version=..., text=...)`: attributions of a classifier version's
  probability of its predicted (or a given) label.
- `similarity_explanation(...)`: attributions of a text's embedding similarity to a reference
  vector with the shared sentence encoder (the recommender's "which words of the item").
- `faithfulness_of_folder(...)`: the deletion check of a freshly trained classifier, stored with
  its version (services.classifiers calls it before the folder is sealed).
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache

from ..models import ModelVersion

log = logging.getLogger(__name__)

EXPLANATION_CACHE_S = 7 * 24 * 3600
EXPLAINERS_KEPT = 3
FAITHFULNESS_FILE = "faithfulness.json"

_explainers: OrderedDict[Any, Any] = OrderedDict()
_lock = threading.Lock()


def _steps() -> int:
    return int(getattr(settings, "ML_EXPLAIN_STEPS", 20))


def _kept(key, build):
    with _lock:
        found = _explainers.get(key)
        if found is not None:
            _explainers.move_to_end(key)
            return found
    built = build()  # outside the lock: loading a model takes seconds
    with _lock:
        _explainers[key] = built
        while len(_explainers) > EXPLAINERS_KEPT:
            _explainers.popitem(last=False)
    return built


def classifier_explainer(*, version: ModelVersion, predictor=None):
    """The version's explainer; reuses `predictor`'s PyTorch network when it serves one.

    Otherwise the version's files are checked at every call, also when its explainer is already
    loaded (cheap: unchanged files are not hashed again), so a version whose files were damaged
    is refused with ModelFilesError, as /healthz reports it, until they are repaired."""
    from ml_core.backbone import select_device
    from ml_core.trust import Explainer, ExplainSettings

    from .model_files import model_version_files_verified

    explain_settings = ExplainSettings(steps=_steps())
    folder = None if predictor is not None else model_version_files_verified(version)

    def build():
        if predictor is not None:
            return Explainer.from_predictor(predictor, settings=explain_settings)
        device = select_device(settings.ML_DEVICE, settings.ML_CPU_THREADS).device
        return Explainer.load(folder, device=device, settings=explain_settings)

    return _kept(("classifier", version.pk, version.sha256), build)


def _digest(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def classifier_explanation(*, version: ModelVersion, text: str, target: str | None = None,
                           predictor=None) -> dict[str, Any]:
    """Explanation.to_dict() of `version` on `text` (cached)."""
    key = f"core.explain:{version.pk}:{_digest(version.sha256, text, target, _steps())}"
    found = cache.get(key)
    if found is not None:
        return {**found, "cached": True}
    explanation = classifier_explainer(version=version, predictor=predictor).explain(text, target=target).to_dict()
    explanation["model_version"] = version.version
    cache.set(key, explanation, EXPLANATION_CACHE_S)
    return {**explanation, "cached": False}


def similarity_explanation(*, text: str, reference: np.ndarray, centre: np.ndarray | None = None,
                           what: str = "similarity", encoder_name: str | None = None) -> dict[str, Any]:
    """Which words of `text` bring its sentence embedding close to `reference` (cached).

    Embeddings are L2-normalised before `centre` is subtracted, as the apps embed their texts
    (ml_core.backbone.encode_texts)."""
    from ml_core.trust import ExplainSettings, SimilarityExplainer

    from .encoders import shared_encoder

    name = encoder_name or settings.ML_BACKBONE
    reference = np.asarray(reference, dtype=np.float32)
    centre_bytes = b"" if centre is None else np.asarray(centre, dtype=np.float32).tobytes()
    key = f"core.explain-sim:{_digest(name, text, reference.tobytes(), centre_bytes, _steps())}"
    found = cache.get(key)
    if found is not None:
        return {**found, "cached": True}
    explainer = _kept(("similarity", name), lambda: SimilarityExplainer.from_sentence_transformer(
        shared_encoder(name), normalize=True, settings=ExplainSettings(steps=_steps())))
    explanation = explainer.explain(text, reference, centre=centre, what=what).to_dict()
    cache.set(key, explanation, EXPLANATION_CACHE_S)
    return {**explanation, "cached": False}


def faithfulness_of_folder(folder: Path, texts: Sequence[str], *, device: str = "cpu", progress=None
                           ) -> dict[str, Any] | None:
    """The deletion check of the classifier in `folder` on up to ML_FAITHFULNESS_EXAMPLES texts,
    written to faithfulness.json there; None when turned off (0) or when there are no texts."""
    import json

    from ml_core.trust import Explainer, ExplainSettings, FaithfulnessSettings, faithfulness_check

    examples = int(getattr(settings, "ML_FAITHFULNESS_EXAMPLES", 50))
    if examples <= 0 or not texts:
        return None
    explainer = Explainer.load(folder, device=device, settings=ExplainSettings(steps=max(8, _steps() - 4)))
    report = faithfulness_check(explainer, list(texts), settings=FaithfulnessSettings(max_examples=examples),
                                **({"progress": progress} if progress else {}))
    (Path(folder) / FAITHFULNESS_FILE).write_text(json.dumps(report, indent=2))
    return report


def explanation_segments(explanation: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The segments to highlight, with a CSS-ready colour for each word (positive: green)."""
    if not explanation:
        return []
    out = []
    for segment in explanation.get("segments", []):
        weight = segment.get("weight")
        shown = dict(segment)
        if weight is not None:
            shown["sign"] = "pos" if weight > 0 else "neg"
            shown["alpha"] = round(min(1.0, abs(weight)) * 0.85, 3)
        out.append(shown)
    return out
