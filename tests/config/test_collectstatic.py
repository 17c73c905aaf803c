"""The Dockerfile's `collectstatic` with the production storage (whitenoise's compressed manifest):
every file a stylesheet or script refers to must exist, or the build stops (MissingFileError) and
every page with a {% static %} tag fails."""
import importlib
from pathlib import Path

import pytest
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command
from django.templatetags.static import static
from django.test import Client, override_settings


@pytest.fixture
def production_storages(monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "collectstatic-test")
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "localhost")
    return importlib.import_module("config.settings.production").STORAGES


@pytest.mark.django_db
def test_collectstatic_with_the_production_storage_and_pages_use_its_manifest(tmp_path, production_storages):
    assert "Manifest" in production_storages["staticfiles"]["BACKEND"]
    # Compression (gzip and brotli of every file) takes a minute and is whitenoise's own work:
    # the manifest step, which resolves every url(...) and sourceMappingURL, is what broke.
    extensions = {Path(path).suffix.lstrip(".") for finder in get_finders() for path, _ in finder.list([])} - {""}
    with override_settings(STORAGES=production_storages, STATIC_ROOT=tmp_path, WHITENOISE_USE_FINDERS=False,
                           WHITENOISE_SKIP_COMPRESS_EXTENSIONS=sorted(extensions)):
        call_command("collectstatic", "--noinput", verbosity=0)
        manifest = (tmp_path / "staticfiles.json").read_text()
        assert "vendor/chart-4.6.1.umd.min.js" in manifest and "vendor/htmx-2.0.11.min.js" in manifest
        hashed = static("vendor/chart-4.6.1.umd.min.js")
        assert hashed != "/static/vendor/chart-4.6.1.umd.min.js" and (tmp_path / hashed.removeprefix("/static/")).is_file()
        page = Client().get("/login/")
        assert page.status_code == 200 and static("vendor/htmx-2.0.11.min.js") in page.content.decode()
