"""Scoring: sentiment, topics and tickers for pending documents, in chunks, written in bulk.

Per chunk: one sentiment-model pass and one shared-encoder pass over the texts, then one
transaction that stores the scores (with the model version), the topic and ticker links, the
score history rows and the trend increments. A document is written only if it is still pending
at that moment, so two jobs that raced for it cannot count it twice in the trends.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.bulk import bulk_update_values
from ml_core.progress import ProgressCallback, no_progress

from ..models import SENTIMENT_LABELS, Document, DocumentTicker, DocumentTopic, SentimentScore
from ..serving import ScoringModels, model_text, scoring_models
from .trends import Delta, TrendKey, deltas_add, series_keys, trends_apply

log = logging.getLogger(__name__)


@dataclass
class ScoringSummary:
    scored: int = 0
    skipped: int = 0  # already scored by someone else
    seconds: float = 0.0
    label_counts: dict[str, int] = field(default_factory=lambda: {label: 0 for label in SENTIMENT_LABELS})
    touched: set[TrendKey] = field(default_factory=set)
    model_version_id: int | None = None

    def metrics(self) -> dict:
        return {"scored": self.scored, "skipped": self.skipped, "seconds": round(self.seconds, 2),
                "docs_per_s": round(self.scored / self.seconds, 1) if self.seconds > 0 else None,
                **{f"n_{label}": n for label, n in self.label_counts.items()}}


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def documents_score(*, documents: list[Document], job=None, progress: ProgressCallback = no_progress,
                    models: ScoringModels | None = None) -> ScoringSummary:
    """Score pending documents; returns counts and the trend buckets that changed."""
    models = models or scoring_models()
    summary = ScoringSummary(model_version_id=models.sentiment_version_id)
    started = time.perf_counter()
    size = settings.FINANCE_SCORING_CHUNK
    for start, chunk in _chunks(documents, size):
        _score_chunk(chunk, models, job, summary)
        done = min(start + size, len(documents))
        progress(100.0 * done / max(len(documents), 1), f"scored {done}/{len(documents)} documents")
    summary.seconds = time.perf_counter() - started
    return summary


def _score_chunk(chunk: list[Document], models: ScoringModels, job, summary: ScoringSummary) -> None:
    texts = [model_text(d.title, d.text) for d in chunk]
    probabilities, topics = models.sentiment_and_topics(texts)
    found_tickers = [models.tickers.find(text) for text in texts]
    now = timezone.now()

    with transaction.atomic():
        pending = set(Document.objects.select_for_update().filter(
            pk__in=[d.pk for d in chunk], status=Document.Status.PENDING).values_list("pk", flat=True))
        given: dict[int, set[int]] = {}
        for document_id, ticker_id in DocumentTicker.objects.filter(document_id__in=pending).values_list(
                "document_id", "ticker_id"):
            given.setdefault(document_id, set()).add(ticker_id)
        updated, scores, topic_links, ticker_links = [], [], [], []
        deltas: dict[TrendKey, Delta] = {}
        for row, document in enumerate(chunk):
            if document.pk not in pending:
                summary.skipped += 1
                continue
            p_negative, p_neutral, p_positive = (float(x) for x in probabilities[row])
            label = SENTIMENT_LABELS[int(probabilities[row].argmax())]
            score = p_positive - p_negative
            document.status = Document.Status.SCORED
            document.sentiment, document.score = label, score
            document.p_negative, document.p_neutral, document.p_positive = p_negative, p_neutral, p_positive
            document.sentiment_version_id = models.sentiment_version_id
            document.scored_at = now
            updated.append(document)
            scores.append(SentimentScore(document=document, model_version_id=models.sentiment_version_id, label=label,
                                         p_negative=p_negative, p_neutral=p_neutral, p_positive=p_positive,
                                         score=score, job=job))
            topic_links.extend(DocumentTopic(document=document, topic_id=a.topic_id, similarity=a.similarity,
                                             method=a.method, is_primary=a.is_primary) for a in topics[row])
            new_tickers = found_tickers[row] - given.get(document.pk, set())
            ticker_links.extend(DocumentTicker(document=document, ticker_id=t) for t in new_tickers)
            deltas_add(deltas, series=series_keys(topic_ids=[a.topic_id for a in topics[row]],
                                                  ticker_ids=found_tickers[row] | given.get(document.pk, set())),
                       published_at=document.published_at, label=label, score=score, p_negative=p_negative)
            summary.label_counts[label] += 1
        bulk_update_values(Document, updated, ["status", "sentiment", "score", "p_negative", "p_neutral", "p_positive",
                                               "sentiment_version", "scored_at"])
        SentimentScore.objects.bulk_create(scores, batch_size=500)
        DocumentTopic.objects.bulk_create(topic_links, batch_size=500, ignore_conflicts=True)
        DocumentTicker.objects.bulk_create(ticker_links, batch_size=500, ignore_conflicts=True)
        summary.touched |= trends_apply(deltas=deltas)
        summary.scored += len(updated)
    if updated:  # a shadow candidate (if one runs) scores them too, in another task
        from .trust import shadow_offer

        shadow_offer(updated, models.sentiment_version_id)


def pending_documents(*, batch_id: int | None = None, left_behind: bool = False,
                      limit: int | None = None) -> list[Document]:
    """Pending documents of a batch, or (left_behind) those no queued or running job will score:
    their batch's job ended (it failed while no model was active...) or they waited longer than
    FINANCE_PENDING_RESCUE_S."""
    from apps.core.models import Job

    documents = Document.objects.filter(status=Document.Status.PENDING).only(
        "pk", "title", "text", "published_at", "status").order_by("pk")
    if batch_id is not None:
        documents = documents.filter(batch_id=batch_id)
    if left_behind:
        cutoff = timezone.now() - timedelta(seconds=settings.FINANCE_PENDING_RESCUE_S)
        documents = documents.filter(Q(batch__isnull=True) | Q(batch__job__isnull=True)
                                     | Q(batch__job__state__in=Job.FINISHED_STATES) | Q(ingested_at__lt=cutoff))
    return list(documents[:limit] if limit else documents)


# --- rescoring ---------------------------------------------------------------------------------
@dataclass
class RescoreSummary:
    rescored: int = 0
    changed_label: int = 0
    seconds: float = 0.0
    model_version_id: int | None = None

    def metrics(self) -> dict:
        return {"rescored": self.rescored, "changed_label": self.changed_label, "seconds": round(self.seconds, 2),
                "model_version_id": self.model_version_id,
                "docs_per_s": round(self.rescored / self.seconds, 1) if self.seconds > 0 else None}


def documents_rescore(*, job=None, since=None, progress: ProgressCallback = no_progress) -> RescoreSummary:
    """Score every scored document again with the active version; trends get the differences.

    Topics and tickers stay as they are; alerts are not re-evaluated for past buckets.
    """
    models = scoring_models(fresh=True)
    documents = Document.objects.filter(status=Document.Status.SCORED).exclude(
        sentiment_version_id=models.sentiment_version_id)
    if since is not None:
        documents = documents.filter(published_at__gte=since)
    ids = list(documents.order_by("pk").values_list("pk", flat=True))
    summary = RescoreSummary(model_version_id=models.sentiment_version_id)
    started = time.perf_counter()
    size = settings.FINANCE_SCORING_CHUNK
    for start, id_chunk in _chunks(ids, size):
        chunk = list(Document.objects.filter(pk__in=id_chunk).only(
            "pk", "title", "text", "published_at", "sentiment", "score", "sentiment_version_id").order_by("pk"))
        texts = [model_text(d.title, d.text) for d in chunk]
        probabilities = models.sentiment.probabilities(texts)
        series = _series_of(chunk)
        with transaction.atomic():
            current = {pk: (label, score, version, old_p_negative) for pk, label, score, version, old_p_negative in
                       Document.objects.select_for_update().filter(pk__in=id_chunk, status=Document.Status.SCORED)
                       .values_list("pk", "sentiment", "score", "sentiment_version_id", "p_negative")}
            updated, scores = [], []
            deltas: dict[TrendKey, Delta] = {}
            for row, document in enumerate(chunk):
                if document.pk not in current or current[document.pk][2] == models.sentiment_version_id:
                    continue
                old_label, old_score, _, old_p_negative = current[document.pk]
                p_negative, p_neutral, p_positive = (float(x) for x in probabilities[row])
                label = SENTIMENT_LABELS[int(probabilities[row].argmax())]
                score = p_positive - p_negative
                deltas_add(deltas, series=series[document.pk], published_at=document.published_at,
                           label=old_label, score=old_score or 0.0, p_negative=old_p_negative or 0.0, sign=-1)
                deltas_add(deltas, series=series[document.pk], published_at=document.published_at,
                           label=label, score=score, p_negative=p_negative)
                summary.changed_label += label != old_label
                document.sentiment, document.score = label, score
                document.p_negative, document.p_neutral, document.p_positive = p_negative, p_neutral, p_positive
                document.sentiment_version_id = models.sentiment_version_id
                document.scored_at = timezone.now()
                updated.append(document)
                scores.append(SentimentScore(document=document, model_version_id=models.sentiment_version_id,
                                             label=label, p_negative=p_negative, p_neutral=p_neutral,
                                             p_positive=p_positive, score=score, job=job))
            bulk_update_values(Document, updated, ["sentiment", "score", "p_negative", "p_neutral", "p_positive",
                                                   "sentiment_version", "scored_at"])
            SentimentScore.objects.bulk_create(scores, batch_size=500)
            trends_apply(deltas=deltas)
        summary.rescored += len(updated)
        done = min(start + size, len(ids))
        progress(100.0 * done / max(len(ids), 1), f"rescored {done}/{len(ids)} documents")
    summary.seconds = time.perf_counter() - started
    return summary


def _series_of(documents: list[Document]) -> dict[int, list[str]]:
    ids = [d.pk for d in documents]
    topics: dict[int, list[int]] = {pk: [] for pk in ids}
    tickers: dict[int, list[int]] = {pk: [] for pk in ids}
    for document_id, topic_id in DocumentTopic.objects.filter(document_id__in=ids).values_list("document_id", "topic_id"):
        topics[document_id].append(topic_id)
    for document_id, ticker_id in DocumentTicker.objects.filter(document_id__in=ids).values_list(
            "document_id", "ticker_id"):
        tickers[document_id].append(ticker_id)
    return {pk: series_keys(topic_ids=topics[pk], ticker_ids=tickers[pk]) for pk in ids}


def documents_reassign_topics(*, job=None, since=None, progress: ProgressCallback = no_progress) -> dict:
    """Assign topics again (after operators changed them); topic trends move with the documents."""
    models = scoring_models(fresh=True)
    documents = Document.objects.filter(status=Document.Status.SCORED)
    if since is not None:
        documents = documents.filter(published_at__gte=since)
    ids = list(documents.order_by("pk").values_list("pk", flat=True))
    moved = 0
    started = time.perf_counter()
    size = settings.FINANCE_SCORING_CHUNK
    for start, id_chunk in _chunks(ids, size):
        chunk = list(Document.objects.filter(pk__in=id_chunk).only(
            "pk", "title", "text", "published_at", "sentiment", "score", "p_negative").order_by("pk"))
        assigned = models.assign_topics([model_text(d.title, d.text) for d in chunk])
        with transaction.atomic():
            old: dict[int, set[int]] = {d.pk: set() for d in chunk}
            for document_id, topic_id in DocumentTopic.objects.filter(document_id__in=id_chunk).values_list(
                    "document_id", "topic_id"):
                old[document_id].add(topic_id)
            deltas: dict[TrendKey, Delta] = {}
            for row, document in enumerate(chunk):
                new = {a.topic_id for a in assigned[row]}
                removed, added = old[document.pk] - new, new - old[document.pk]
                moved += bool(removed or added)
                deltas_add(deltas, series=[f"topic:{t}" for t in removed], published_at=document.published_at,
                           label=document.sentiment, score=document.score or 0.0,
                           p_negative=document.p_negative or 0.0, sign=-1)
                deltas_add(deltas, series=[f"topic:{t}" for t in added], published_at=document.published_at,
                           label=document.sentiment, score=document.score or 0.0, p_negative=document.p_negative or 0.0)
            DocumentTopic.objects.filter(document_id__in=id_chunk).delete()
            DocumentTopic.objects.bulk_create([
                DocumentTopic(document=document, topic_id=a.topic_id, similarity=a.similarity, method=a.method,
                              is_primary=a.is_primary)
                for row, document in enumerate(chunk) for a in assigned[row]
            ], batch_size=500)
            trends_apply(deltas=deltas)
        done = min(start + size, len(ids))
        progress(100.0 * done / max(len(ids), 1), f"re-assigned topics of {done}/{len(ids)} documents")
    seconds = time.perf_counter() - started
    return {"documents": len(ids), "moved": moved, "seconds": round(seconds, 2)}
