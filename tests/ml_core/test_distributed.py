"""Data-parallel training (torch DDP) with two CPU processes on the gloo backend."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_gloo_processes_end_with_the_same_weights(tmp_path, tiny_encoder_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(ROOT / "tests" / "ml_core" / "ddp_train_script.py"), str(tiny_encoder_path), str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
    assert ranks[0]["digest"] == ranks[1]["digest"]  # every weight, bit for bit
    assert ranks[0]["head_sum"] == ranks[1]["head_sum"]
    assert [c["epoch"] for c in ranks[0]["curves"]] == [0, 1, 2]
    # Each rank trained on its own half of every epoch (its own mean loss), yet both validate the same.
    assert ranks[0]["curves"][1]["train_loss"] != ranks[1]["curves"][1]["train_loss"]
    assert [c["valid_loss"] for c in ranks[0]["curves"]] == [c["valid_loss"] for c in ranks[1]["curves"]]
    # Only rank 0 writes the model and the checkpoints (removed once training finished).
    assert ranks[0]["wrote_model"] and not ranks[1]["wrote_model"]
    assert (tmp_path / "model" / "classifier.json").is_file() and not (tmp_path / "checkpoints").exists()
    # The model rank 0 wrote is the network both ranks hold.
    from ml_core.serving import ClassifierPredictor

    predictor = ClassifierPredictor.load(tmp_path / "model")
    assert float(predictor.backend.model.head.weight.detach().sum()) == pytest.approx(ranks[0]["head_sum"], abs=1e-5)
