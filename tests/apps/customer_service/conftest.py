"""Customer-service fixtures: the tiny encoder as backbone, a small knowledge base written for
these tests, a site, a trained intent model (the `head` method through ml_core, with its
open-intent detector), API clients."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.core.services.registry import BuiltArtifact, model_version_activate, model_version_create
from apps.customer_service.models import Site
from apps.customer_service.services import chat
from apps.customer_service.services.kb import EntryFields, kb_entry_create
from apps.customer_service.services.smalltalk import smalltalk_forget
from apps.customer_service.serving import SCENARIO, assistant, assistant_reset

ORIGIN = "https://shop.example"

# (intent, title, answer, questions) — written for these tests.
ENTRIES = [
    ("track_order", "Where is my order?", "Follow order {{Order Number}} under Order History.",
     ["where is my order", "track my parcel please", "has my package shipped", "status of my delivery",
      "when does my order arrive"]),
    ("get_refund", "Refunds", "Refunds reach your card within five days. Call {{Customer Support Phone Number}}.",
     ["I want my money back", "how do I get a refund", "refund for a broken lamp", "return and refund",
      "can I be reimbursed"]),
    ("reset_password", "Forgotten password", "Choose Forgot password on {{Website Name}}.",
     ["I forgot my password", "reset my password", "cannot log in", "password link expired",
      "change my login password"]),
    ("contact_human_agent", "Talk to a person", "I have asked a colleague to join.",
     ["talk to a human", "real person please", "connect me to an agent", "speak with staff",
      "human support now"]),
]


@pytest.fixture(autouse=True)
def fresh_assistant():
    """Each test starts with no loaded model, index or cached settings (databases roll back)."""
    assistant_reset()
    chat.assistant_settings_forget()
    smalltalk_forget()
    yield
    assistant_reset()
    chat.assistant_settings_forget()
    smalltalk_forget()


@pytest.fixture
def tiny_backbone(settings, tiny_encoder_path) -> str:
    settings.ML_BACKBONE = str(tiny_encoder_path)
    # The tiny random encoder puts every two texts at cosine 0.8-0.97: only identical texts count
    # as the same small talk or the same question asked again (the real thresholds are measured
    # on all-MiniLM-L6-v2: test_smalltalk_with_the_bundled_model).
    settings.CUSTOMER_SERVICE_SMALLTALK_SIMILARITY = 0.9999
    settings.CUSTOMER_SERVICE_REPHRASE_SIMILARITY = 0.9999
    return settings.ML_BACKBONE


@pytest.fixture
def site(db) -> Site:
    return Site.objects.create(name="Shop", allowed_origins=f"{ORIGIN}\nhttp://localhost:3000",
                               placeholder_values={"Website Name": "shop.example"})


@pytest.fixture
def kb(db, tiny_backbone) -> dict[str, int]:
    """The test knowledge base, embedded with the tiny encoder: {intent: entry id}."""
    ids = {}
    for intent, title, answer, questions in ENTRIES:
        entry = kb_entry_create(fields=EntryFields.clean(title=title, answer=answer, intent=intent),
                                questions=questions)
        ids[intent] = entry.pk
    return ids


def train_intent_version(*, activate: bool = True):
    """Train the `head` intent model on the knowledge base (ml_core's trainer) and register it."""
    from django.conf import settings

    from apps.customer_service.services.training import intent_training_data, open_intent_fit
    from ml_core.progress import no_progress
    from ml_core.training import ClassifierConfig, train_classifier

    data = intent_training_data({})
    config = ClassifierConfig(method="head", base_model=settings.ML_BACKBONE, device="cpu", seed=0)

    def build(folder):
        result = train_classifier(config, data.train, folder)
        extras = open_intent_fit(folder=folder, data=data, progress=no_progress)  # as the training job does
        return BuiltArtifact(metrics={"accuracy": result.metrics["accuracy"], **extras}, base_model=config.base_model)

    version = model_version_create(scenario=SCENARIO, build=build)
    if activate:
        version = model_version_activate(version=version)
        assistant().intent_models.invalidate()
    return version


@pytest.fixture
def intent_model(kb):
    return train_intent_version()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def post_chat(api: APIClient, site: Site, text: str, origin: str = ORIGIN, **extra):
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    headers.update({k: v for k, v in extra.items() if k.startswith("HTTP_")})
    body = {"site_key": site.public_key, "text": text,
            **{k: v for k, v in extra.items() if not k.startswith("HTTP_")}}
    return api.post("/api/v1/chat/", body, format="json", **headers)
