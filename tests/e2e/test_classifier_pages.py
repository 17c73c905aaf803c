"""The classifier pages in a real browser: every chart draws, the heat map answers the pointer."""
import pytest
from django.urls import reverse

from tests.apps.core.test_classifier_views import toy_artifact, trained  # noqa: F401  (fixtures)
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_model_version_page_draws_curves_heat_maps_and_reliability(trained, operator_user, live_server, page):
    _, version = trained
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    login(page, live_server, operator_user.username, "pw-" + operator_user.username)
    page.goto(live_server.url + reverse("model_version_detail", args=[version.pk]))
    page.wait_for_function("document.querySelectorAll('[data-ml-ready]').length >= 5")
    assert page.locator("[data-ml-error]").count() == 0 and not errors, errors
    points = page.evaluate("""() => {
        const curves = document.querySelector('[data-ml-chart=curves]').querySelectorAll('canvas');
        return [...curves].map(c => Chart.getChart(c).data.datasets.map(d => d.data.length));
    }""")
    assert points == [[3, 3], [3, 3]]  # epochs 0 (the logistic head), 1 and 2; two series per chart
    heat = page.locator("#report-test .ml-heatmap canvas")
    heat.scroll_into_view_if_needed()
    box = heat.bounding_box()
    assert box["width"] > 60 and box["height"] > 60
    # The row names fit left of the cells: the margin is the widest name as drawn, not a guess per character.
    fits = page.evaluate("""() => {
        const canvas = document.querySelector('#report-test .ml-heatmap canvas');
        const data = JSON.parse(document.getElementById(canvas.closest('[data-source]').dataset.source).textContent);
        const n = data.labels.length, cell = Math.max(5, Math.min(28, Math.floor(560 / n)));
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = Math.min(12, cell) + 'px system-ui, sans-serif';
        const widest = Math.max(...data.labels.map(l => ctx.measureText(l).width));
        return parseFloat(canvas.style.width) - cell * n >= widest + 4;
    }""")
    assert fits
    # The pointer over the bottom-right cell (true pos, predicted pos) names it in the tip below.
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2)
    tip = page.locator("#report-test .ml-heatmap-tip")
    assert tip.inner_text().startswith("true Pos → predicted Pos: ")  # labels in words
    reliability = page.evaluate(
        "() => Chart.getChart(document.querySelector('#report-test [data-ml-chart=reliability] canvas')).data.labels.length")
    assert reliability >= 1
