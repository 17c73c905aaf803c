"""Optional answer generation with the real SmolLM2-135M-Instruct (slow: loads the GGUF model)."""
from __future__ import annotations

import pytest

from apps.customer_service.generation import gguf_file
from apps.customer_service.services.chat import assistant_settings_update, chat_message_handle

from .test_chat import controlled  # noqa: F401 - the fixture

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_generated_replies_cite_the_entries_they_use(site, kb, controlled):  # noqa: F811
    assert gguf_file().suffix == ".gguf"
    controlled([("track_order", 0.9), ("get_refund", 0.05)])
    assistant_settings_update(values={"generation_enabled": True, "generation_max_tokens": 16})
    reply = chat_message_handle(site=site, text="where is my parcel?")["reply"]
    assert reply["source"] == "generated"
    assert reply["entries"][0] == {"id": kb["track_order"], "title": "Where is my order?"}
    body, sources = reply["text"].split("\n\nSources:\n")
    assert body.strip()
    assert sources.splitlines()[0] == "[1] Where is my order?"
    assert len(sources.splitlines()) == len(reply["entries"])
