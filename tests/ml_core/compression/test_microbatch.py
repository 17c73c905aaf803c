"""Micro-batching: concurrent callers share model calls and each gets exactly its own rows."""
import threading

import numpy as np
import pytest

from ml_core.errors import UserError
from ml_core.serving import ClassifierPredictor
from ml_core.serving.microbatch import MicroBatcher, MicroBatchingPredictor


def test_concurrent_callers_get_their_own_results_from_shared_batches(tiny_classifier, toy_splits):
    _, valid = toy_splits
    # fp32: dynamic int8 sets activation scales per batch, so its rows depend slightly on the batch.
    plain = ClassifierPredictor.load(tiny_classifier)
    batched = MicroBatchingPredictor(plain, max_batch_size=16, max_wait_ms=50)
    requests = [valid.texts[i : i + 1 + i % 3] for i in range(24)]  # 1 to 3 texts each
    expected = [plain.predict_proba(texts) for texts in requests]
    results: dict[int, np.ndarray] = {}
    errors = []
    start = threading.Barrier(len(requests))

    def call(i: int) -> None:
        try:
            start.wait()
            results[i] = batched.predict_proba(requests[i])
        except Exception as exc:  # pragma: no cover - reported below  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batched.close()
    assert not errors
    for i, probs in enumerate(expected):
        np.testing.assert_allclose(results[i], probs, atol=1e-5)  # padding in a bigger batch changes nothing
    stats = batched.batcher.stats
    assert stats.requests == len(requests) and stats.texts == sum(len(r) for r in requests)
    assert stats.batches < len(requests) and stats.largest_batch > 3  # requests really were merged
    assert stats.largest_batch <= 16 + 2  # the last request may overshoot by its own size


def test_the_predictor_interface_is_unchanged(int8_classifier):
    batched = MicroBatchingPredictor(ClassifierPredictor.load(int8_classifier), max_wait_ms=1)
    assert batched.backend.name == "onnx"
    try:
        prediction = batched.predict_one("great win", top_k=2)
        assert prediction.label in batched.labels and len(prediction.top_k) == 2
        assert batched.predict([]) == []
        with pytest.raises(UserError, match="not one string"):
            batched.predict("great win")
    finally:
        batched.close()


def test_an_error_reaches_every_caller_of_the_failed_batch():
    def score(texts):
        if "boom" in texts:
            raise ValueError("model failed")
        return np.array([[len(t)] for t in texts])

    batcher = MicroBatcher(score, max_batch_size=8, max_wait_ms=1)
    try:
        assert batcher.submit(["ab", "c"]).tolist() == [[2], [1]]
        with pytest.raises(ValueError, match="model failed"):
            batcher.submit(["boom"])
        assert batcher.submit(["xyz"]).tolist() == [[3]]  # the worker thread survives an error
    finally:
        batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(["late"])
