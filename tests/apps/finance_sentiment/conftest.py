"""Fixtures of the finance sentiment tests: a tiny but really trained sentiment model, topics, helpers.

The model is ml_core's `head` classifier on the tiny random encoder, trained on sentences built
from a few unambiguous words: the plumbing is real (training, registry, predictor, calibrated
probabilities), and it labels sentences made of those words reliably. Quality claims come from
bench/finance_sentiment.py with the real model.
"""
from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from apps.core.services.jobs import job_run
from apps.core.services.registry import BuiltArtifact, model_version_activate, model_version_create

WORDS = {
    "negative": ["plunge", "loss", "lawsuit", "default", "collapse", "slump"],
    "positive": ["surge", "record", "beat", "growth", "rally", "upgrade"],
    "neutral": ["meeting", "report", "schedule", "office", "board", "annual"],
}


def sentence(label: str, n: int) -> str:
    """A sentence the tiny model labels `label`, different for every n (no duplicates)."""
    words = WORDS[label]
    return f"The company {words[n % 6]} {words[(n // 6) % 6]} {words[(n // 36) % 6]} today number {n}"


@pytest.fixture(scope="session")
def tiny_sentiment_folder(tmp_path_factory, tiny_encoder_path) -> Path:
    from ml_core.data import LabelledTexts
    from ml_core.training import ClassifierConfig, train_classifier

    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(180):
        label = list(WORDS)[i % 3]
        texts.append(sentence(label, int(rng.integers(0, 10_000))))
        labels.append(label)
    folder = tmp_path_factory.mktemp("tiny-sentiment") / "model"
    config = ClassifierConfig(method="head", base_model=str(tiny_encoder_path), device="cpu", max_length=32, seed=1)
    train_classifier(config, LabelledTexts(texts, labels, source="toy"), folder)
    return folder


@pytest.fixture
def tiny_backbone(settings, tiny_encoder_path):
    """Topic embeddings from the tiny encoder too (fast); caches start empty."""
    from apps.finance_sentiment.serving import reset_caches

    settings.ML_BACKBONE = str(tiny_encoder_path)
    settings.ML_DEVICE = "cpu"
    reset_caches()
    yield tiny_encoder_path
    reset_caches()


@pytest.fixture
def sentiment_model(db, tiny_backbone, tiny_sentiment_folder):
    """The tiny model registered and activated as finance_sentiment.sentiment v1."""
    def build(folder: Path) -> BuiltArtifact:
        shutil.copytree(tiny_sentiment_folder, folder, dirs_exist_ok=True)
        return BuiltArtifact(metrics={"accuracy": 1.0}, base_model=str(tiny_backbone))

    version = model_version_create(scenario="finance_sentiment.sentiment", build=build)
    return model_version_activate(version=version)


@pytest.fixture
def topic(db):
    from apps.finance_sentiment.models import Topic

    # Threshold 0: with the tiny random encoder similarities mean nothing, so every document
    # belongs to this topic; tests of topic matching itself use the real encoder (slow) or keywords.
    return Topic.objects.create(name="Earnings", slug="earnings", keywords=["profit"],
                                examples=["Quarterly profit rose"], threshold=0.0)


def run_job(job):
    """Run a job's work in this process through the real job machinery (claim, progress, outcome)."""
    from apps.finance_sentiment.tasks import rebuild_scores_job, score_batch_job

    work = {score_batch_job.name: score_batch_job.work, rebuild_scores_job.name: rebuild_scores_job.work}[job.kind]
    finished = job_run(job_id=job.pk, work=work, worker="pytest")
    assert finished is not None
    return finished


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, 1, tzinfo=UTC) + timedelta(days=day, hours=hour, minutes=minute)
