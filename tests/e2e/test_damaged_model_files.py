"""An operator opens "why this score" while the active version's head.safetensors is damaged:
the page says which file and what to do (the partial answers 503 and is shown, not dropped), and
shows the explanation again once the file is repaired."""
import pytest
from playwright.sync_api import expect

from apps.core.services.registry import artifact_dir
from apps.finance_sentiment.models import Document
from apps.finance_sentiment.services.ingestion import documents_ingest
from ml_core.training.model import HEAD_FILE
from tests.apps.finance_sentiment.conftest import (  # noqa: F401 - fixtures used by name
    at,
    run_job,
    sentence,
    sentiment_model,
    tiny_backbone,
    tiny_sentiment_folder,
)
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_why_this_score_names_the_damaged_file_and_recovers(page, live_server, operator_user, sentiment_model):
    from django.core.cache import cache

    cache.clear()
    result = documents_ingest(items=[{"text": sentence("negative", 3), "title": "Item",
                                      "published_at": at(0, 9).isoformat(), "source": "Wire"}], origin="api")
    run_job(result.batch.job)
    document = Document.objects.get()
    head = artifact_dir(sentiment_model) / HEAD_FILE
    sound = head.read_bytes()
    head.write_bytes(sound[:-16] + b"\0" * 16)

    login(page, live_server, operator_user.username, "pw-oscar-operator")
    page.goto(f"{live_server.url}/finance/documents/{document.pk}/")
    expect(page.locator("#explanation .error")).to_contain_text(
        f"{HEAD_FILE} does not match its manifest (corrupted or altered). Restore its files")

    page.goto(f"{live_server.url}/models/{sentiment_model.pk}/")
    page.fill("#why-text", "profits collapsed")
    page.click(".xai-form button[type=submit]")
    expect(page.locator("#why-result .error")).to_contain_text(f"{HEAD_FILE} does not match its manifest")

    head.write_bytes(sound)
    page.goto(f"{live_server.url}/finance/documents/{document.pk}/")
    expect(page.locator("#explanation")).to_contain_text(f"Why {document.sentiment}")
