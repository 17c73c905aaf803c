"""Run under torchrun by test_distributed.py: train a tiny classifier data-parallel.

Each rank writes what it ended with to OUT/rank<N>.json; rank 0 also writes the model.
"""
import json
import sys
from pathlib import Path

from ml_core.training import ClassifierConfig, train_classifier
from ml_core.training.distributed import env_rank
from tests.ml_core.test_training import toy_data

encoder, out = sys.argv[1], Path(sys.argv[2])
config = ClassifierConfig(base_model=encoder, epochs=2, batch_size=8, learning_rate=1e-3, device="cpu",
                          cpu_threads=1, max_length=32, seed=5)
result = train_classifier(config, toy_data(96), out / "model", checkpoint_dir=out / "checkpoints")
head = result.model.head.weight.detach()
(out / f"rank{env_rank()}.json").write_text(json.dumps({
    "digest": result.weights_digest, "world_size": result.metrics["world_size"],
    "head_sum": float(head.sum()), "wrote_model": result.out_dir is not None,
    "curves": result.curves,
}))
