"""The monitor's part in explanations, control, shadow mode and retention (apps.core services).

- Explanations: "Why this score" on a document explains the sentiment version that scored it,
  on the text the model read, for the label it gave; computed when an operator opens the
  document (loaded after the page), then cached.
- Control: the sentiment scenario's confidence threshold (default 0.5; the control page changes
  it) marks documents whose label is unsure, to review.
- Shadow mode: every document a scoring job scores is offered to a running shadow deployment;
  operators' sentiment labels are the right answers.
- Retention: documents ingested before their age are deleted with their scores and links
  (trend figures already counted stay).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from apps.core.services.control import scenario_policy
from apps.core.services.retention import RetentionKind

from ..models import Document
from ..scenario import SENTIMENT_SCENARIO
from ..serving import model_text

SUBJECT = "finance_sentiment.document"


def document_explanation(*, document: Document) -> dict[str, Any]:
    """Which words drove the document's sentiment label (ml_core.trust.explain; cached)."""
    from apps.core.services.explanations import classifier_explanation
    from ml_core.errors import UserError

    if document.sentiment_version is None or not document.sentiment:
        raise UserError("this document has not been scored by a model version that still exists")
    return classifier_explanation(version=document.sentiment_version, text=model_text(document.title, document.text),
                                  target=document.sentiment)


def document_unsure(document: Document) -> tuple[bool, float]:
    """(is the label below the scenario's confidence threshold?, the threshold)."""
    policy = scenario_policy(SENTIMENT_SCENARIO)
    probabilities = [p for p in (document.p_negative, document.p_neutral, document.p_positive) if p is not None]
    return bool(probabilities) and policy.is_unsure(max(probabilities)), policy.confidence_threshold


def shadow_offer(documents: Iterable[Document], version_id: int | None) -> None:
    """Offer freshly scored documents to the running shadow deployment, if any (one INSERT)."""
    from apps.core.services.shadow import Observation, shadow_observe_many

    shadow_observe_many(scenario=SENTIMENT_SCENARIO, observations=(
        Observation(subject=f"{SUBJECT}:{d.pk}", text=model_text(d.title, d.text), label=d.sentiment,
                    confidence=max(d.p_negative, d.p_neutral, d.p_positive), active_version_id=version_id)
        for d in documents))


def shadow_labels(subjects: list[str]) -> dict[str, str]:
    ids = {int(s.rsplit(":", 1)[1]): s for s in subjects if s.startswith(f"{SUBJECT}:")}
    return {ids[pk]: label for pk, label in
            Document.objects.filter(pk__in=ids).exclude(label="").values_list("pk", "label")}


def delete_documents_before(cutoff: dt.datetime) -> int:
    """Documents ingested before `cutoff`, with their scores and links (rows deleted)."""
    return Document.objects.filter(ingested_at__lt=cutoff).delete()[0]


def retention_kind() -> RetentionKind:
    return RetentionKind("finance_sentiment.documents", "Finance documents with their scores",
                         delete_documents_before, default_days=None)
