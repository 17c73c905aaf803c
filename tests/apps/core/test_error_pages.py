"""Error pages in the site's look, never Django's debug page: `make run` (config.settings.local)
has DEBUG off unless DJANGO_DEBUG=1, still serves static files, and every page names a favicon."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import RequestFactory

from apps.core.errors import server_error

pytestmark = pytest.mark.django_db


def test_an_unknown_address_gets_the_site_404(operator_client):
    response = operator_client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in html and "<code>/no-such-page/</code>" in html and 'href="/">Go to the dashboard' in html
    assert "css/app.css" in html and 'class="topbar"' in html
    assert "Resolver404" not in html and "urlpatterns" not in html.lower()


def test_a_404_raised_by_a_view_says_what_is_missing(operator_client):
    html = operator_client.get("/finance/documents/999999/").content.decode()
    assert "No such document." in html and "Http404" not in html


def test_the_500_page_is_the_site_without_needing_a_request_context():
    response = server_error(RequestFactory().get("/somewhere/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and "css/app.css" in html and 'class="topbar"' in html
    assert render_to_string("500.html") == html


def test_every_page_names_the_favicon(client):
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/login/").content.decode()
    assert (Path(settings.BASE_DIR) / "static" / "favicon.svg").read_text().startswith("<svg")


LOCAL_SETTINGS_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
print(json.dumps({"debug": settings.DEBUG, "favicon": client.get("/static/favicon.svg").status_code,
                  "css": client.get("/static/css/app.css").status_code,
                  "missing": client.get("/no-such-page/").status_code}))
"""


@pytest.mark.parametrize("flag, debug", [(None, False), ("1", True)])
def test_make_run_has_debug_off_unless_asked_and_still_serves_static_files(tmp_path, flag, debug):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_DEBUG", "DATABASE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", VAR_DIR=str(tmp_path))
    if flag:
        env["DJANGO_DEBUG"] = flag
    out = subprocess.run([sys.executable, "-c", LOCAL_SETTINGS_PROBE], cwd=settings.BASE_DIR, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe == {"debug": debug, "favicon": 200, "css": 200, "missing": 404}
