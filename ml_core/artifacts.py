"""Artifact folders that are complete or absent, never half-written.

A model version is a folder. It is built in a hidden sibling folder, gets a MANIFEST.json with
the sha256 of every file, and is renamed into place in one step (rename is atomic on one file
system). Loaders and activation call `verify_directory` and refuse a folder whose manifest is
missing or whose files no longer match it.

Loaders and health checks pass `cached=True`: a file's sha256 is then remembered per process,
keyed by its path, size, mtime, ctime and inode, so verifying an unchanged folder again costs a
few `stat` calls; any write (or a repair) changes the key and the file is hashed again.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

MANIFEST_NAME = "MANIFEST.json"
PARTIAL_MARKER = ".partial-"
_CHUNK = 1 << 20
# Below this much free space a failed write is put down to a full disk.
LOW_SPACE_BYTES = 1 << 20


class ArtifactError(UserError):
    """An artifact folder is missing, incomplete or altered.

    `kind` says which (one of ArtifactError.KINDS, "invalid" when none fits) and `file` names the
    file concerned relative to the folder, so callers can word the problem without the path.
    """

    MISSING_KINDS = ("missing-folder", "partial", "no-manifest", "missing-file")
    CORRUPTED_KINDS = ("bad-manifest", "extra-file", "corrupted")
    KINDS = (*MISSING_KINDS, *CORRUPTED_KINDS)
    kind = "invalid"
    file = ""

    def __init__(self, message: str, *, kind: str = "invalid", file: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.file = file


class DiskFullError(ArtifactError, OSError):
    """The file system ran out of space while an artifact or checkpoint was written (an OSError
    with errno ENOSPC, whatever the library that failed called it)."""

    def __init__(self, message: str) -> None:
        OSError.__init__(self, errno.ENOSPC, message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return (DiskFullError, (self.message,))


def disk_full_error(exc: BaseException, folder: Path | str) -> DiskFullError | None:
    """A DiskFullError naming `folder` when `exc` came from a full disk, else None.

    torch and safetensors report a short write in their own words ("unexpected pos 64 vs 0"),
    so besides ENOSPC the file system itself is asked how much room is left. Call it before
    removing what the failed write left behind (that frees the space again).
    """
    if isinstance(exc, DiskFullError):
        return exc
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if not full:
        try:
            stats = os.statvfs(folder)
        except OSError:
            return None
        full = stats.f_bavail * stats.f_frsize < LOW_SPACE_BYTES
    if not full:
        return None
    return DiskFullError(f"no space left on device under {folder}: the files were not saved "
                         f"(the write failed with {type(exc).__name__}: {str(exc)[:200]}); "
                         "free some space and start again")


@dataclass
class HashCounters:
    """How many file hashes were computed and how many were answered from the cache (this process)."""

    computed: int = 0
    reused: int = 0


hash_counters = HashCounters()
# Files of about a hundred versions; the oldest entries go first.
HASH_CACHE_SIZE = 4096
# A file modified this recently may change again within the same timestamp tick (the clock that
# stamps files is coarse), so its hash is not remembered yet; git's "racily clean" rule.
RACY_WINDOW_NS = 2_000_000_000
_hash_cache: OrderedDict[str, tuple[tuple[int, int, int, int], str]] = OrderedDict()
_hash_lock = threading.Lock()


def _file_sha256(path: Path) -> str:
    hash_counters.computed += 1
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> tuple[int, int, int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino


def file_sha256(path: Path | str, *, cached: bool = True) -> str:
    """The sha256 of a file; with `cached`, not recomputed while its size, mtime, ctime and inode
    stay the same."""
    path = Path(path)
    if not cached:
        return _file_sha256(path)
    key = os.path.abspath(path)
    stamp = _stamp(path)
    with _hash_lock:
        found = _hash_cache.get(key)
        if found is not None and found[0] == stamp:
            _hash_cache.move_to_end(key)
            hash_counters.reused += 1
            return found[1]
    sha = _file_sha256(path)
    # Remembered only when nothing wrote to the file while it was read, nor just before.
    if _stamp(path) == stamp and time.time_ns() - stamp[1] > RACY_WINDOW_NS:
        with _hash_lock:
            _hash_cache[key] = (stamp, sha)
            _hash_cache.move_to_end(key)
            while len(_hash_cache) > HASH_CACHE_SIZE:
                _hash_cache.popitem(last=False)
    return sha


def _artifact_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() != MANIFEST_NAME
    )


def _combined_sha256(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(files[rel].encode())
        digest.update(b"\n")
    return digest.hexdigest()


def write_manifest(folder: Path) -> str:
    """Hash every file in `folder`, write MANIFEST.json, and return the folder's sha256."""
    files = {p.relative_to(folder).as_posix(): _file_sha256(p) for p in _artifact_files(folder)}
    sha = _combined_sha256(files)
    manifest = {"sha256": sha, "files": files, "written_at": time.time()}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return sha


def verify_directory(folder: Path | str, *, cached: bool = False) -> str:
    """Return the folder's sha256 if it is complete and unaltered, else raise ArtifactError.

    `cached=True` reuses the hashes of files unchanged since they were last hashed (file_sha256);
    activation leaves it off and reads every byte again.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactError(f"artifact folder {folder} does not exist", kind="missing-folder")
    if PARTIAL_MARKER in folder.name:
        raise ArtifactError(f"artifact folder {folder} is a partial write", kind="partial")
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ArtifactError(f"artifact folder {folder} has no {MANIFEST_NAME}: it was never completed",
                            kind="no-manifest", file=MANIFEST_NAME)
    try:
        manifest = json.loads(manifest_path.read_text())
        expected = manifest["files"]
        sha = manifest["sha256"]
        if not isinstance(expected, dict):
            raise TypeError("its files are not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{manifest_path} is unreadable: {exc}", kind="bad-manifest",
                            file=MANIFEST_NAME) from exc
    actual = {p.relative_to(folder).as_posix(): p for p in _artifact_files(folder)}
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise ArtifactError(f"artifact folder {folder} lacks {', '.join(missing[:5])}", kind="missing-file",
                            file=missing[0])
    extra = sorted(set(actual) - set(expected))
    if extra:
        raise ArtifactError(f"artifact folder {folder} has unexpected files {', '.join(extra[:5])}",
                            kind="extra-file", file=extra[0])
    for rel, expected_sha in sorted(expected.items()):
        try:
            matches = file_sha256(actual[rel], cached=cached) == expected_sha
        except FileNotFoundError:  # removed since the folder was listed
            raise ArtifactError(f"artifact folder {folder} lacks {rel}", kind="missing-file", file=rel) from None
        if not matches:
            raise ArtifactError(f"{folder / rel} does not match its manifest (corrupted or altered)",
                                kind="corrupted", file=rel)
    return sha


@contextmanager
def atomic_directory(final: Path | str) -> Iterator[Path]:
    """Yield an empty folder to fill; on success it is sealed and renamed to `final`.

    On any error (including a full disk) the partial folder is removed and the error re-raised,
    so `final` either does not exist or is complete.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise ArtifactError(f"artifact folder {final} already exists")
    try:
        partial = Path(tempfile.mkdtemp(prefix=f"{final.name}{PARTIAL_MARKER}", dir=final.parent))
    except OSError as exc:
        raise (disk_full_error(exc, final.parent) or exc) from exc
    try:
        yield partial
        write_manifest(partial)
        _fsync_tree(partial)
        os.rename(partial, final)
    except Exception as exc:
        full = disk_full_error(exc, partial)
        shutil.rmtree(partial, ignore_errors=True)
        if full is not None and full is not exc:
            raise full from exc
        raise
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _fsync_tree(folder: Path) -> None:
    # Data must be on disk before the rename makes the folder visible.
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
