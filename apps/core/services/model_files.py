"""The one way to reach a model version's files: check them against their manifest first.

Everything that loads a version's files (serving caches, explanations, shadow scoring, robustness
and compression jobs) asks `model_version_files_verified(version)` for the folder. It checks every
file against MANIFEST.json and the manifest against the sha256 registered with the version; file
hashes are remembered per process while a file's size, mtime, ctime and inode stay the same
(ml_core.artifacts.file_sha256), so asking again costs a few `stat` calls. Damaged or missing
files raise ModelFilesError, a UserError whose message names the version and the file (never
a server path); views answer it with 503. /healthz and the registry page use
`model_version_files_check`, the same check without the exception.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from ml_core.artifacts import ArtifactError, verify_directory
from ml_core.errors import UserError

from ..models import ModelVersion

_PROBLEM_WORDS = {
    "missing-folder": "its folder is missing",
    "partial": "its folder is a partial write",
    "no-manifest": "its folder has no manifest of file hashes",
    "bad-manifest": "its manifest of file hashes is unreadable",
    "missing-file": "{file} is missing",
    "extra-file": "{file} is not in its manifest",
    "corrupted": "{file} does not match its manifest (corrupted or altered)",
    "changed": "its files changed since it was registered",
}


@dataclass(frozen=True)
class FilesCheck:
    state: str  # "ok", "missing" or "corrupted"
    reason: str = ""  # for users: names the file, not where it lies
    detail: str = ""  # for logs and operators' pages: names the folder

    @property
    def ok(self) -> bool:
        return self.state == "ok"


class ModelFilesError(UserError):
    """A model version's files are missing or damaged, so the version cannot be used."""

    def __init__(self, message: str, *, check: FilesCheck | None = None) -> None:
        super().__init__(message)
        self.check = check or FilesCheck("corrupted", message, message)


def artifact_dir(version: ModelVersion) -> Path:
    """Where a version's files lie (unchecked: loaders use model_version_files_verified)."""
    return Path(settings.ARTIFACTS_ROOT) / version.artifact_path


def model_version_files_check(version: ModelVersion) -> FilesCheck:
    """Whether the version's files match their manifest and the sha256 it was registered with."""
    folder = artifact_dir(version)
    try:
        sha = verify_directory(folder, cached=True)
        if sha != version.sha256:
            raise ArtifactError(f"the manifest of {folder} changed since the version was registered", kind="changed")
    except ArtifactError as exc:
        words = _PROBLEM_WORDS.get(exc.kind, "its files do not match its manifest").format(file=exc.file)
        state = "missing" if exc.kind in ArtifactError.MISSING_KINDS else "corrupted"
        return FilesCheck(state, words, str(exc))
    except OSError as exc:  # unreadable (permissions, I/O error): as good as corrupted
        return FilesCheck("corrupted", "its files cannot be read", f"{folder}: {type(exc).__name__}: {exc}")
    return FilesCheck("ok")


def model_version_files_verified(version: ModelVersion) -> Path:
    """The version's folder, once its files are known to be complete and unaltered."""
    check = model_version_files_check(version)
    if not check.ok:
        raise ModelFilesError(f"{version.scenario} v{version.version} cannot be used: {check.reason}. Restore its "
                              "files from a backup or activate another version.", check=check)
    return artifact_dir(version)
