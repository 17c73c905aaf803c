import errno
import json
import os
import pickle
import time

import pytest

from ml_core.artifacts import (
    MANIFEST_NAME,
    RACY_WINDOW_NS,
    ArtifactError,
    atomic_directory,
    hash_counters,
    verify_directory,
)


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
    with pytest.raises(RuntimeError, match="training blew up"), atomic_directory(final) as partial:
        (partial / "weights.bin").write_bytes(b"half")
        raise RuntimeError("training blew up")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []


def test_full_disk_fails_clearly_and_cleans_up(tmp_path):
    final = tmp_path / "v1"
    with pytest.raises(OSError) as info, atomic_directory(final) as partial:
        (partial / "a.bin").write_bytes(b"1")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_never_overwritten(tmp_path):
    (tmp_path / "v1").mkdir()
    with pytest.raises(ArtifactError, match="already exists"), atomic_directory(tmp_path / "v1"):
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


def _sealed(folder, files: dict[str, bytes]):
    with atomic_directory(folder) as partial:
        for name, content in files.items():
            (partial / name).write_bytes(content)
    return folder


def _age(folder, seconds: float = 60.0) -> None:
    """Date every file back, out of the window in which a file may still be changing."""
    past = time.time_ns() - int(seconds * 1e9)
    for path in folder.iterdir():
        os.utime(path, ns=(past, past))


def test_each_problem_has_a_kind_and_names_the_file(tmp_path):
    final = _sealed(tmp_path / "v1", {"head.safetensors": b"weights", "labels.json": b"[]"})
    (final / "head.safetensors").write_bytes(b"corrupt")
    with pytest.raises(ArtifactError) as info:
        verify_directory(final, cached=True)
    assert (info.value.kind, info.value.file) == ("corrupted", "head.safetensors")
    # The kind survives a trip through pickle (a job's error crossing processes).
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.kind, again.file, str(again)) == ("corrupted", "head.safetensors", str(info.value))
    (final / "head.safetensors").unlink()
    with pytest.raises(ArtifactError) as info:
        verify_directory(final, cached=True)
    assert (info.value.kind, info.value.file) == ("missing-file", "head.safetensors")
    (final / MANIFEST_NAME).write_text('{"files": ["not", "a", "mapping"], "sha256": "x"}')
    with pytest.raises(ArtifactError, match="unreadable") as info:
        verify_directory(final)
    assert info.value.kind == "bad-manifest"
    (final / MANIFEST_NAME).write_text('{"files": {}}')  # no sha256: refused, not a KeyError
    with pytest.raises(ArtifactError, match="unreadable"):
        verify_directory(final)


def test_cached_verification_hashes_an_unchanged_file_once(tmp_path):
    files = {"head.safetensors": b"w" * 4096, "config.json": b"{}", "labels.json": b"[]"}
    final = _sealed(tmp_path / "v1", files)
    _age(final)
    sha = verify_directory(final, cached=True)
    computed, reused = hash_counters.computed, hash_counters.reused
    for _ in range(3):
        assert verify_directory(final, cached=True) == sha
    assert hash_counters.computed == computed  # three more checks, not one byte read again
    assert hash_counters.reused == reused + 3 * len(files)

    # Without the cache (activation), every file is read every time.
    verify_directory(final)
    assert hash_counters.computed == computed + len(files)

    # Same size, new bytes: the changed stamp makes it hashed again, and the damage is seen.
    (final / "head.safetensors").write_bytes(b"x" * 4096)
    computed = hash_counters.computed
    with pytest.raises(ArtifactError, match="does not match") as info:
        verify_directory(final, cached=True)
    assert info.value.file == "head.safetensors"
    # Sorted: config.json, head.safetensors (stops there); only the changed file was read.
    assert hash_counters.computed == computed + 1

    # Repaired: sound again, without anything to reset.
    (final / "head.safetensors").write_bytes(files["head.safetensors"])
    assert verify_directory(final, cached=True) == sha


def test_a_file_changed_with_its_mtime_put_back_is_still_hashed_again(tmp_path):
    final = _sealed(tmp_path / "v1", {"head.safetensors": b"w" * 64})
    _age(final)
    verify_directory(final, cached=True)
    weights = final / "head.safetensors"
    before = weights.stat()
    weights.write_bytes(b"x" * 64)
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size and mtime, new ctime
    with pytest.raises(ArtifactError, match="does not match"):
        verify_directory(final, cached=True)


def test_a_file_written_moments_ago_is_not_remembered(tmp_path):
    final = _sealed(tmp_path / "v1", {"head.safetensors": b"w" * 64})
    assert time.time_ns() - (final / "head.safetensors").stat().st_mtime_ns < RACY_WINDOW_NS
    verify_directory(final, cached=True)
    computed = hash_counters.computed
    verify_directory(final, cached=True)
    assert hash_counters.computed == computed + 1  # it may still be changing within the same clock tick
