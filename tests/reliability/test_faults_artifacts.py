"""Fault: a model version's files are corrupted or vanish on disk.

The customer-service assistant serves a real intent model (trained with the tiny encoder). A
corrupted newer version must be refused at activation with a clear message; when the active
version's folder disappears under the running process, the loaded model keeps answering, the
problem is logged, /healthz says "degraded" and the registry page names it.
"""
from __future__ import annotations

import logging
import shutil

import pytest

from apps.core.models import ModelVersion
from apps.core.services.registry import artifact_dir
from apps.customer_service.models import Message
from apps.customer_service.serving import SCENARIO, assistant
from tests.apps.customer_service.conftest import (  # noqa: F401 - fixtures used by name
    api,
    fresh_assistant,
    intent_model,
    kb,
    post_chat,
    site,
    tiny_backbone,
    train_intent_version,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_rate_limits():
    from django.core.cache import cache

    cache.clear()


def _chat_version(api, site, text: str) -> int:
    response = post_chat(api, site, text)
    assert response.status_code == 200, response.content
    return Message.objects.get(pk=response.json()["reply"]["id"]).model_version


def test_corrupted_or_missing_artifacts_keep_the_previous_version_serving(
        api, site, intent_model, admin_client, caplog):
    v1 = intent_model
    assert _chat_version(api, site, "where is my order") == v1.version

    # A newer version whose weights were damaged on disk after it was registered.
    v2 = train_intent_version(activate=False)
    weights = next(p for p in artifact_dir(v2).iterdir() if p.suffix == ".safetensors")
    weights.write_bytes(weights.read_bytes()[:-16] + b"\0" * 16)
    with caplog.at_level(logging.ERROR, logger="apps.core.services.registry"):
        response = admin_client.post(f"/models/{v2.pk}/activate/", follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert shown == [(f"{SCENARIO} v2 cannot be activated: {weights} does not match its manifest "
                     "(corrupted or altered)")]
    assert any("refused to activate" in r.getMessage() for r in caplog.records)
    assert ModelVersion.objects.get(scenario=SCENARIO, is_active=True) == v1
    assistant().intent_models.invalidate()
    assert _chat_version(api, site, "I forgot my password") == v1.version

    # The active version's folder vanishes under the running process (a bad cleanup, a lost
    # volume): the model already in memory goes on answering.
    shutil.rmtree(artifact_dir(v1))
    assistant().intent_models.invalidate()
    for text in ("has my package shipped", "I want my money back", "talk to a human"):
        assert _chat_version(api, site, text) == v1.version

    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="apps.core.health"):
        health = api.get("/healthz")
    assert health.status_code == 200  # the web still answers: degraded, not down
    body = health.json()
    assert body["status"] == "degraded" and body["checks"]["models"]["ok"] is False
    assert any(f"{SCENARIO} v1" in r.getMessage() and "does not exist" in r.getMessage()
               for r in caplog.records)
    assert "Traceback" not in health.content.decode()

    page = admin_client.get("/models/").content.decode()
    assert f"v1 (active): artifact folder {artifact_dir(v1)} does not exist" in page
