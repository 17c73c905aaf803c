import errno
import json

import pytest

from ml_core.artifacts import MANIFEST_NAME, ArtifactError, atomic_directory, verify_directory


def test_complete_folder_appears_only_after_the_block(tmp_path):
    final = tmp_path / "scenario" / "v1"
    with atomic_directory(final) as partial:
        (partial / "weights.bin").write_bytes(b"\x00" * 100)
        (partial / "sub").mkdir()
        (partial / "sub" / "config.json").write_text("{}")
        assert not final.exists()
    assert final.is_dir()
    manifest = json.loads((final / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {"weights.bin", "sub/config.json"}
    assert verify_directory(final) == manifest["sha256"]


def test_failure_leaves_nothing_behind(tmp_path):
    final = tmp_path / "v1"
    with pytest.raises(RuntimeError, match="training blew up"):
        with atomic_directory(final) as partial:
            (partial / "weights.bin").write_bytes(b"half")
            raise RuntimeError("training blew up")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []


def test_full_disk_fails_clearly_and_cleans_up(tmp_path):
    final = tmp_path / "v1"
    with pytest.raises(OSError) as info:
        with atomic_directory(final) as partial:
            (partial / "a.bin").write_bytes(b"1")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_never_overwritten(tmp_path):
    (tmp_path / "v1").mkdir()
    with pytest.raises(ArtifactError, match="already exists"):
        with atomic_directory(tmp_path / "v1"):
            pass


def test_verify_refuses_folder_without_manifest(tmp_path):
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "weights.bin").write_bytes(b"w")
    with pytest.raises(ArtifactError, match="never completed"):
        verify_directory(tmp_path / "v1")


def test_verify_refuses_missing_altered_or_extra_files(tmp_path):
    final = tmp_path / "v1"
    with atomic_directory(final) as partial:
        (partial / "weights.bin").write_bytes(b"weights")
        (partial / "labels.json").write_text("[]")
    (final / "weights.bin").write_bytes(b"corrupt")
    with pytest.raises(ArtifactError, match="does not match"):
        verify_directory(final)
    (final / "weights.bin").unlink()
    with pytest.raises(ArtifactError, match="lacks weights.bin"):
        verify_directory(final)
    (final / "weights.bin").write_bytes(b"weights")
    (final / "stray.txt").write_text("x")
    with pytest.raises(ArtifactError, match="unexpected files stray.txt"):
        verify_directory(final)


def test_verify_refuses_partial_and_missing_folders(tmp_path):
    partial = tmp_path / "v1.partial-abc"
    partial.mkdir()
    with pytest.raises(ArtifactError, match="partial write"):
        verify_directory(partial)
    with pytest.raises(ArtifactError, match="does not exist"):
        verify_directory(tmp_path / "nope")
