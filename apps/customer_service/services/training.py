"""What the intent classifier learns from, and starting its retraining.

Retraining is the suite's generic classifier job (apps.core.services.classifiers,
`core.train_classifier`): this module gives it the training data, what a start checks first
(`intent_training_readiness`) and the recent questions the activation policy's label-shift guard
reads; the policy (apps.core.services.activation) compares the new version with the active one
on the same held-out questions.

Training data: every example question of the active entries, labelled with the entry's intent,
plus labelled conversation history: customer questions an operator labelled, and questions
whose answer the customer marked helpful. All of it is stored masked already. A fixed share
of it (stratified, fixed seed) is held out as the test set both versions are scored on.
Before reading it, any entry or question without a vector from the current encoder is embedded,
so the retrained model and the knowledge index describe the same knowledge base.

Every version also gets its open-intent detector (`open_intent_fit`, the scenario's artifact
extras): the chat loads it with the model to tell questions of no known intent.
"""
from __future__ import annotations

import logging
import random
from collections import Counter
from pathlib import Path

import numpy as np

from apps.core.models import Job
from apps.core.scenarios import TrainingData, get_scenario

from ..models import KBExample, Message
from ..scenario import SCENARIO
from .kb import kb_embed_pending

log = logging.getLogger(__name__)

TEST_FRACTION = 0.1
TEST_SEED = 54
MIN_PER_INTENT = 3  # fewer and the intent is left to retrieval (the trainer needs a validation split)
MIN_FOR_TEST = 10  # intents with fewer examples keep them all for training


def _labelled_questions():
    """Customer questions an operator labelled with an intent."""
    return Message.objects.filter(role=Message.Role.CUSTOMER).exclude(labelled_intent="")


def _helpful_answers():
    """Answers the customer found helpful, to questions no operator labelled: their intent was right."""
    return (Message.objects.filter(role=Message.Role.ASSISTANT, feedback=Message.Feedback.HELPFUL,
                                   source__in=("template", "retrieval", "generated"), reply_to__isnull=False)
            .exclude(intent="").exclude(reply_to__labelled_intent__gt=""))


def labelled_history() -> list[tuple[str, str]]:
    """(masked question, intent) pairs that conversations taught us."""
    pairs = list(_labelled_questions().values_list("text", "labelled_intent"))
    return pairs + list(_helpful_answers().values_list("reply_to__text", "intent"))


def intent_training_readiness(params: dict | None = None) -> str:
    """Why an intent training could only fail, or "" (counted in the database: cheap for a page)."""
    from django.db.models import Count

    counts: Counter = Counter()
    for query, field in ((KBExample.objects.filter(entry__is_active=True), "entry__intent"),
                         (_labelled_questions(), "labelled_intent"), (_helpful_answers(), "intent")):
        counts.update({row[field]: row["n"] for row in query.values(field).annotate(n=Count("id"))})
    ready = [intent for intent, n in counts.items() if intent and n >= MIN_PER_INTENT]
    if len(ready) >= 2:
        return ""
    return (f"the knowledge base needs at least two intents with {MIN_PER_INTENT} example questions each to train "
            f"the intent classifier; it has {len(ready)}")


def recent_customer_questions(limit: int) -> list[str]:
    """The newest customer messages, masked as stored (the activation policy's live sample)."""
    return list(Message.objects.filter(role=Message.Role.CUSTOMER).order_by("-created_at", "-id")
                .values_list("text", flat=True)[:limit])


def intent_training_data(params: dict | None = None) -> TrainingData:
    from ml_core.data import DataError, LabelledTexts

    kb_embed_pending()
    pairs = list(KBExample.objects.filter(entry__is_active=True).values_list("text", "entry__intent"))
    n_kb = len(pairs)
    pairs += labelled_history()
    unique = list(dict.fromkeys((t, y) for t, y in pairs if t.strip() and y))
    counts = Counter(y for _, y in unique)
    skipped = sorted(y for y, n in counts.items() if n < MIN_PER_INTENT)
    unique = [(t, y) for t, y in unique if counts[y] >= MIN_PER_INTENT]
    if len({y for _, y in unique}) < 2:
        raise DataError("the knowledge base needs at least two intents with "
                        f"{MIN_PER_INTENT} example questions each to train the intent classifier")
    by_intent: dict[str, list[int]] = {}
    for i, (_, y) in enumerate(unique):
        by_intent.setdefault(y, []).append(i)
    rng = random.Random(TEST_SEED)
    test_rows: set[int] = set()
    for intent in sorted(by_intent):
        rows = by_intent[intent]
        if len(rows) >= MIN_FOR_TEST:
            test_rows.update(rng.sample(rows, max(1, round(TEST_FRACTION * len(rows)))))
    stats = {"knowledge_base_questions": n_kb, "history_questions": len(pairs) - n_kb,
             "skipped_intents": skipped}

    def part(indices, name) -> LabelledTexts:
        return LabelledTexts([unique[i][0] for i in indices], [unique[i][1] for i in indices],
                             source=f"customer service {name}", stats=stats)

    train = part([i for i in range(len(unique)) if i not in test_rows], "knowledge base + labelled history")
    test = part(sorted(test_rows), "held-out questions") if test_rows else None
    if skipped:
        log.info("intents with fewer than %d questions are left to retrieval: %s", MIN_PER_INTENT, skipped)
    return TrainingData(train=train, test=test)


def known_text_vectors(texts: list[str], progress=None) -> np.ndarray:
    """L2-normalised serving-encoder vectors of known questions: the stored vector of a knowledge-base
    question with that text, else embedded now (labelled history keeps no vector of its own)."""
    from ..serving import embed_texts, embedding_model_name, normalise, vector_from_bytes

    stored: dict[str, bytes] = {}
    for chunk_start in range(0, len(texts), 2000):
        chunk = texts[chunk_start:chunk_start + 2000]
        stored.update(KBExample.objects.filter(text__in=chunk, embedding_model=embedding_model_name())
                      .exclude(embedding=None).values_list("text", "embedding"))
    vectors: list[np.ndarray | None] = [vector_from_bytes(stored[t]) if t in stored else None for t in texts]
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        for i, vector in zip(missing, embed_texts([texts[i] for i in missing], progress=progress)):
            vectors[i] = vector
    return normalise(np.stack(vectors)) if vectors else np.zeros((0, 0), dtype=np.float32)


def open_intent_fit(*, folder: Path, data: TrainingData, progress) -> dict[str, float]:
    """The version's open-intent detector (ml_core.open_intent), saved in its artifact folder.

    Fitted on the shared serving encoder's vectors of every known question (what the chat computes
    for each message anyway, whatever the classifier's method), and calibrated by cross-fitting:
    that encoder never learns these texts, so each fold's scores are those of held-out known
    questions. The chat reads the threshold for the settings' refusal rate off the stored curve.
    """
    from ml_core.open_intent import OpenIntentConfig, OpenIntentDetector

    from ..models import AssistantSettings

    parts = [part for part in (data.train, data.valid, data.test) if part is not None]
    texts = [t for part in parts for t in part.texts]
    labels = [y for part in parts for y in part.labels]
    progress(96.8, f"fitting the open-intent detector on {len(texts)} known questions")
    rate = AssistantSettings.objects.filter(pk=1).values_list("open_intent_refusal_rate", flat=True).first()
    if not rate:
        rate = AssistantSettings._meta.get_field("open_intent_refusal_rate").default
    # The embedding score alone (no logits): the same for every training method, and the chat
    # computes it from the embedding it has anyway.
    config = OpenIntentConfig(method="knn", k=1, logit_score=None, target_false_rejection=rate)
    detector = OpenIntentDetector.fit(known_text_vectors(texts), labels, config=config)
    detector.save(folder)
    return {"open_intent_threshold": round(detector.threshold, 6), "open_intent_calibration_n": detector.curve.n}


def intent_retrain_start(*, created_by=None, params: dict | None = None) -> Job:
    """Queue the retraining job (the same one the back office's "Retrain" starts)."""
    return get_scenario(SCENARIO).retrain(created_by=created_by, params=params or {})
