"""What every batch of the recommendation API shares: the result, the whole-batch error, the checks.

Batches are validated row by row: a bad row is reported (its index and the field at fault) and
left out, the good rows are stored together in one transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from apps.core.validation import NUL_MESSAGE, contains_nul
from ml_core.errors import UserError

from ..models import EXTERNAL_ID_MAX

MAX_BATCH = 1000  # rows per batch of the file imports (never above RECOMMENDATION_MAX_BATCH_ROWS)



class BatchError(UserError):
    """The request as a whole is unusable (not a list, too long); nothing was stored."""


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)
    embedding_job_id: str | None = None

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged

    def as_dict(self) -> dict:
        out = {"accepted": self.accepted, "created": self.created, "updated": self.updated,
               "unchanged": self.unchanged, "duplicates": self.duplicates, "rejected": self.rejected}
        if self.embedding_job_id:
            out["embedding_job"] = self.embedding_job_id
        return out


def _external_id(value: Any, errors: dict, name: str) -> str:
    if isinstance(value, (int,)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        errors[name] = "required: a non-empty string"
        return ""
    if contains_nul(value):
        errors[name] = NUL_MESSAGE
        return ""
    value = value.strip()
    if len(value) > EXTERNAL_ID_MAX:
        errors[name] = f"at most {EXTERNAL_ID_MAX} characters"
    return value


def import_chunk_rows() -> int:
    """Rows per batch when a file import feeds the batch services (each batch within the API's limit)."""
    return max(1, min(MAX_BATCH, settings.RECOMMENDATION_MAX_BATCH_ROWS))


def _check_batch(rows: Any, what: str) -> list:
    if not isinstance(rows, list):
        raise BatchError(f"'{what}' must be a list of objects")
    limit = settings.RECOMMENDATION_MAX_BATCH_ROWS
    if len(rows) > limit:
        raise BatchError(f"at most {limit} {what} per request (RECOMMENDATION_MAX_BATCH_ROWS), got {len(rows)}")
    return rows
