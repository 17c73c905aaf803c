"""ml_core's public face: what apps may import (docs/ml_core.md, "Public face"; pyproject.toml's
import-linter contract keeps apps and config off the rest). Each package's __all__ names resolve,
and importing the packages that load their modules lazily stays cheap."""
import importlib
import subprocess
import sys

import pytest

PACKAGES = ("augmentation", "compression", "open_intent", "recsys", "retrieval", "serving", "training", "trust")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package):
    module = importlib.import_module(f"ml_core.{package}")
    assert len(set(module.__all__)) == len(module.__all__), "a name listed twice"
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert not missing, f"ml_core.{package}.__all__ names what it does not have: {missing}"


def test_the_lazy_trust_face_lists_exactly_its_exports():
    from ml_core import trust

    assert sorted(trust.__all__) == sorted(trust._EXPORTS)


@pytest.mark.parametrize("package", ["training", "trust", "compression"])
def test_importing_a_lazy_package_does_not_import_torch(package):
    code = f"import sys, ml_core.{package}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
