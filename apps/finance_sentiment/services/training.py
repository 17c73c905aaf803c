"""Training data of the two classifier scenarios; the generic job core.train_classifier trains them.

- "finance_sentiment.sentiment": negative / neutral / positive, from the labelled sets admins
  upload (the Financial PhraseBank's `sentence@label` files, or CSV / JSON Lines with text and
  label) plus the documents operators labelled. Sets uploaded as "evaluation only" form the test
  set that decides activation (new and active version scored on the same sentences).
- "finance_sentiment.topics": the operators' topic labels on documents (a topic, or "none of
  the topics"); trainable once FINANCE_TOPIC_MIN_PER_LABEL documents per label exist for at least
  two labels. The default method trains a head on the shared encoder's embedding, which scoring
  already computes, so the classifier costs no extra encoder pass.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.core.scenarios import TrainingData
from apps.core.services.audit import audit_record
from ml_core.data import (
    DataError,
    LabelledTexts,
    check_min_per_class,
    decode_text,
    jsonl_lines,
    label_counts,
    load_labelled,
)
from ml_core.training import RECIPES

from ..models import SENTIMENT_LABELS, Document, LabelledExample, LabelledSet, Topic
from ..scenario import SENTIMENT_SCENARIO
from ..serving import NO_TOPIC_LABEL

# Full fine-tuning with the "plain" recipe, which beat ClassifierConfig's defaults on the Financial
# PhraseBank over 3 seeds (ml_core.training.RECIPES, bench/recipes.py). bench/finance_sentiment.py
# trains with this too.
SENTIMENT_DEFAULT_CONFIG: dict[str, Any] = {"method": "full", **RECIPES["plain"]}
TOPIC_DEFAULT_CONFIG: dict[str, Any] = {"method": "head", "max_length": 256}


def _phrasebank_rows(text: str, name: str) -> list[dict[str, str]]:
    """`sentence@label` lines (Financial PhraseBank): split on the last @, CR stripped. A blank
    line stays as an empty row so that line numbers in later messages match the file's."""
    rows = []
    for number, line in enumerate(jsonl_lines(text), start=1):
        line = line.strip("\r\n ")
        if not line:
            rows.append({})
            continue
        sentence, sep, label = line.rpartition("@")
        if not sep or not sentence.strip():
            raise DataError(f"{name}, line {number}: expected 'sentence@label'")
        rows.append({"text": sentence.strip(), "label": label.strip()})
    return rows


def _upload_text(content: bytes, file_name: str, *, latin1_fallback: bool) -> str:
    """UTF-8 first; the PhraseBank's own files are Latin-1, so a .txt that is not UTF-8 is read as that."""
    try:
        return decode_text(content, file_name, "utf-8", hint="save the file as UTF-8")
    except DataError:
        if not latin1_fallback:
            raise
        return decode_text(content, file_name, "latin-1")


def labelled_set_delete(*, labelled: LabelledSet) -> None:
    """Delete a labelled set and its sentences, with an audit record of how many rows went."""
    audit_record(action="data.delete", target=f"labelled set {labelled.name}", scenario=SENTIMENT_SCENARIO,
                 details={"rows": labelled.size})
    labelled.delete()


def labelled_set_upload(*, name: str, file_name: str, content: bytes, role: str = LabelledSet.Role.TRAIN,
                        label_map: str | dict | None = None, uploaded_by=None) -> LabelledSet:
    """Store a labelled set (all rows or none): PhraseBank .txt, CSV (text,label) or JSON Lines.

    Labels must end up as negative / neutral / positive; `label_map` renames others
    (e.g. "0=negative,1=positive,2=neutral" for the Twitter financial news set). The content is
    read in memory, so messages name the uploaded file (never a server path).
    """
    import json

    suffix = Path(file_name).suffix.lower()
    if suffix not in {".txt", ".csv", ".tsv", ".jsonl", ".ndjson", ".json"}:
        raise DataError(f"{file_name}: use a PhraseBank .txt (sentence@label), .csv or .jsonl file")
    text = _upload_text(content, file_name, latin1_fallback=suffix == ".txt")
    if suffix == ".txt":
        text = "\n".join(json.dumps(r) if r else "" for r in _phrasebank_rows(text, file_name))
    data = load_labelled(file_name, text=text, jsonl=True if suffix == ".txt" else None, label_map=label_map,
                         allowed_labels=SENTIMENT_LABELS, min_per_class=1)
    data.source = file_name
    limit = settings.FINANCE_MAX_LABELLED_ROWS
    if len(data) > limit:
        raise DataError(f"{file_name} has {len(data):,} rows; the limit is {limit:,} (FINANCE_MAX_LABELLED_ROWS)")
    with transaction.atomic():
        labelled = LabelledSet.objects.create(
            name=name or file_name, file_name=file_name, role=role, size=len(data), label_counts=label_counts(data),
            notes=f"{data.stats.get('duplicates_dropped', 0)} duplicate rows dropped, "
                  f"{data.stats.get('conflicting_texts', 0)} texts with two labels kept",
            uploaded_by=uploaded_by if uploaded_by and uploaded_by.is_authenticated else None)
        LabelledExample.objects.bulk_create(
            [LabelledExample(labelled_set=labelled, text=t, label=y) for t, y in zip(data.texts, data.labels)],
            batch_size=1000)
    return labelled


def _examples(sets, source: str) -> LabelledTexts:
    rows = list(LabelledExample.objects.filter(labelled_set__in=sets).order_by("pk").values_list("text", "label"))
    return LabelledTexts([t for t, _ in rows], [y for _, y in rows], source=source)


def sentiment_training_data(params: dict) -> TrainingData:
    """Uploaded training sets (params["sets"]: ids, default all) and operator-labelled documents."""
    sets = LabelledSet.objects.all()
    if params.get("sets"):
        sets = sets.filter(pk__in=params["sets"])
    train = _examples(sets.filter(role=LabelledSet.Role.TRAIN), "uploaded labelled sets")
    documents = list(Document.objects.exclude(label="").order_by("pk").values_list("title", "text", "label"))
    from ..serving import model_text

    train = LabelledTexts(train.texts + [model_text(t, x) for t, x, _ in documents],
                          train.labels + [y for _, _, y in documents],
                          source=f"{len(train)} uploaded sentences + {len(documents)} labelled documents")
    if not len(train):
        raise DataError("no labelled sentences yet: upload a labelled set (e.g. the Financial PhraseBank) "
                        "on the Finance sentiment › Models page, or label documents")
    check_min_per_class(train, SENTIMENT_MIN_PER_LABEL)
    missing = [label for label in SENTIMENT_LABELS if label not in set(train.labels)]
    if missing:
        raise DataError(f"the training data has no {', '.join(missing)} examples; the model needs all three labels")
    test_sets = sets.filter(role=LabelledSet.Role.TEST)
    test = _examples(test_sets, "evaluation sets") if test_sets.exists() else None
    return TrainingData(train=train, test=test if test is not None and len(test) else None)


SENTIMENT_MIN_PER_LABEL = 4  # as sentiment_training_data checks: fewer and the trainer cannot split


def sentiment_training_readiness(params: dict) -> str:
    """Why a sentiment training could only fail, or "" (counts only: cheap enough for a page)."""
    from django.db.models import Count

    sets = LabelledSet.objects.filter(role=LabelledSet.Role.TRAIN)
    if params.get("sets"):
        sets = sets.filter(pk__in=params["sets"])
    counts: dict[str, int] = {}
    for query in (LabelledExample.objects.filter(labelled_set__in=sets), Document.objects.exclude(label="")):
        for row in query.values("label").annotate(n=Count("id")):
            counts[row["label"]] = counts.get(row["label"], 0) + row["n"]
    if not counts:
        return ("no labelled sentences yet: upload a labelled set (e.g. the Financial PhraseBank) on the "
                "Finance sentiment › Models page, or label documents")
    short = [label for label in SENTIMENT_LABELS if counts.get(label, 0) < SENTIMENT_MIN_PER_LABEL]
    if short:
        have = ", ".join(f"{counts.get(label, 0)} {label}" for label in SENTIMENT_LABELS)
        return (f"the labelled sentences are {have}; the model needs at least {SENTIMENT_MIN_PER_LABEL} of each "
                "of negative, neutral and positive")
    return ""


def recent_document_texts(limit: int) -> list[str]:
    """The newest documents as the models read them (the activation policy's live sample)."""
    from ..serving import model_text

    rows = Document.objects.order_by("-ingested_at", "-id").values_list("title", "text")[:limit]
    return [model_text(title, text[:5000]) for title, text in rows]


def topic_label_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for slug in Document.objects.filter(topic_label__isnull=False).values_list("topic_label__slug", flat=True):
        counts[slug] = counts.get(slug, 0) + 1
    none = Document.objects.filter(topic_labelled_none=True, topic_label__isnull=True).count()
    if none:
        counts[NO_TOPIC_LABEL] = none
    return counts


def topic_classifier_readiness() -> tuple[bool, str]:
    counts = topic_label_counts()
    need = settings.FINANCE_TOPIC_MIN_PER_LABEL
    ready = [label for label, n in counts.items() if n >= need]
    if len(ready) >= 2:
        return True, f"{sum(counts.values())} labelled documents; {len(ready)} labels have at least {need}"
    return False, (f"{sum(counts.values())} labelled documents; a topic classifier needs at least {need} for each "
                   f"of two labels (topics or 'none of the topics'), {len(ready)} so far")


def topic_training_readiness(params: dict) -> str:
    ready, why = topic_classifier_readiness()
    return "" if ready else why


def topic_training_data(params: dict) -> TrainingData:
    ready, why = topic_classifier_readiness()
    if not ready:
        raise DataError(why)
    need = settings.FINANCE_TOPIC_MIN_PER_LABEL
    counts = topic_label_counts()
    rows = Document.objects.filter(topic_label__isnull=False).order_by("pk").values_list(
        "title", "text", "topic_label__slug")
    none_rows = Document.objects.filter(topic_labelled_none=True, topic_label__isnull=True).order_by("pk").values_list(
        "title", "text")
    from ..serving import model_text

    texts, labels = [], []
    for title, text, slug in rows:
        if counts.get(slug, 0) >= need:
            texts.append(model_text(title, text))
            labels.append(slug)
    if counts.get(NO_TOPIC_LABEL, 0) >= need:
        for title, text in none_rows:
            texts.append(model_text(title, text))
            labels.append(NO_TOPIC_LABEL)
    active = set(Topic.objects.filter(is_active=True).values_list("slug", flat=True))
    keep = [i for i, label in enumerate(labels) if label in active or label == NO_TOPIC_LABEL]
    return TrainingData(train=LabelledTexts([texts[i] for i in keep], [labels[i] for i in keep],
                                            source="documents labelled by operators"))

