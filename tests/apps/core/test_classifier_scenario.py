"""A toy classifier scenario for the training tests (the activation policy: test_activation*.py).

Worker processes import this module with CELERY_WORKER_INCLUDE (celery -I) and, when
TOY_CLASSIFIER_DIR is set, register the same scenario the test process registered, so a real
worker trains it.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from apps.core.scenarios import ClassifierTraining, TrainingData, classifier_scenario, register_scenario

TOY_SCENARIO = "tests.toy_classifier"
WORDS = {
    "pos": ["great", "good", "excellent", "happy", "win"],
    "neg": ["bad", "awful", "terrible", "sad", "loss"],
    "neu": ["table", "chair", "report", "meeting", "monday"],
}


def write_toy_files(folder: Path, n_train: int = 90, n_test: int = 30) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, offset in (("train.csv", n_train, 0), ("test.csv", n_test, n_train)):
        with open(folder / name, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            for i in range(n):
                label = list(WORDS)[i % 3]
                writer.writerow([f"{' '.join(rng.choice(WORDS[label], size=3))} number {i + offset}", label])
    return folder


def toy_training(folder: Path, encoder: Path, **overrides) -> ClassifierTraining:
    from ml_core.data import load_labelled

    def training_data(params: dict) -> TrainingData:
        return TrainingData(train=load_labelled(folder / params.get("train_file", "train.csv")),
                            test=load_labelled(folder / "test.csv", min_per_class=1))

    options = {"training_data": training_data,
               "default_config": {"base_model": str(encoder), "epochs": 1, "batch_size": 16, "device": "cpu",
                                  "max_length": 32, "learning_rate": 1e-3},
               **overrides}
    return ClassifierTraining(**options)


def register_toy_classifier(folder: Path, encoder: Path, **overrides) -> None:
    register_scenario(classifier_scenario(key=TOY_SCENARIO, label="Toy sentiment", description="for tests",
                                          training=toy_training(folder, encoder, **overrides)))


if os.environ.get("TOY_CLASSIFIER_DIR"):  # inside a worker started by the tests
    register_toy_classifier(Path(os.environ["TOY_CLASSIFIER_DIR"]), Path(os.environ["TOY_CLASSIFIER_ENCODER"]))
