"""Fault: the disk that holds the model artifacts fills up during a training.

ARTIFACTS_ROOT is a real, tiny tmpfs (mounting one needs root, as in CI's container). The job
must fail with a message that says the disk is full, register no version, leave no partial
folder, and keep the active version serving; freeing space is enough to train again.
"""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from apps.core.models import Job, ModelVersion
from apps.core.scenarios import unregister_scenario
from apps.core.services.classifiers import classifier_training_start
from apps.core.services.jobs import job_run
from apps.core.services.registry import artifact_dir
from apps.core.tasks import train_classifier_job
from ml_core.artifacts import PARTIAL_MARKER, verify_directory
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier, write_toy_files

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

DISK_BYTES = 48 * 2**20


@pytest.fixture
def small_disk(tmp_path) -> Path:
    mount_point = tmp_path / "artifacts-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path) -> Path:
    """Write a ballast file until the file system refuses more."""
    ballast = disk / "ballast.bin"
    chunk = b"\0" * 65536
    with open(ballast, "wb") as fh:
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # Single bytes too, so not even a small file fits.
    with open(disk / "ballast-tail.bin", "wb", buffering=0) as fh:
        try:
            while fh.write(b"\0"):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    assert os.statvfs(disk).f_bavail == 0
    return ballast


def _train(params: dict) -> Job:
    job = classifier_training_start(scenario=TOY_SCENARIO, params=params)
    return job_run(job_id=job.pk, work=train_classifier_job.work, worker="test")


def test_a_full_artifacts_disk_fails_the_training_clearly_and_keeps_the_active_version(
        settings, small_disk, tmp_path, tiny_encoder_path):
    settings.ARTIFACTS_ROOT = small_disk
    register_toy_classifier(write_toy_files(tmp_path / "toy"), tiny_encoder_path)
    try:
        # The toy's 24 test texts are too few for the activation policy: activate by hand.
        first = _train({"config": {"method": "head"}, "activate": "always"})
        assert first.state == Job.State.SUCCEEDED, first.error
        v1 = ModelVersion.objects.get(scenario=TOY_SCENARIO, is_active=True)

        _fill(small_disk)
        # The head method fails writing the artifact itself (safetensors), fine-tuning earlier,
        # at its first checkpoint (torch.save): both in words an operator understands.
        for params, written in (({"method": "head"}, f"{TOY_SCENARIO}/"), ({"epochs": 1}, ".checkpoints/")):
            failed = _train({"config": params})
            assert failed.state == Job.State.FAILED
            assert failed.message.startswith("DiskFullError: no space left on device under "), failed.error
            assert written in failed.error and "free some space and start again" in failed.error

        assert list(ModelVersion.objects.filter(scenario=TOY_SCENARIO)) == [v1]
        assert ModelVersion.objects.get(scenario=TOY_SCENARIO, is_active=True) == v1
        assert verify_directory(artifact_dir(v1)) == v1.sha256
        scenario_dir = small_disk / TOY_SCENARIO
        assert [p.name for p in scenario_dir.iterdir()] == [artifact_dir(v1).name]
        assert not [p for p in small_disk.rglob("*") if PARTIAL_MARKER in p.name or p.name.endswith(".tmp")]

        # Space freed: the same training goes through.
        for ballast in small_disk.glob("ballast*"):
            ballast.unlink()
        again = _train({"config": {"method": "head"}})
        assert again.state == Job.State.SUCCEEDED, again.error
    finally:
        unregister_scenario(TOY_SCENARIO)
