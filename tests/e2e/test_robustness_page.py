"""The robustness section of a model-version page in a real browser: the bar chart draws, the
attack figures and training options show, and no script fails."""
import os

import pytest
import torch

from apps.core.models import Job, ModelVersion
from apps.core.scenarios import unregister_scenario
from apps.core.services.classifiers import classifier_training_start
from apps.core.services.jobs import job_run
from apps.core.services.robustness import robustness_evaluation_start
from apps.core.tasks import evaluate_robustness_job, train_classifier_job
from tests.apps.core.test_classifier_scenario import TOY_SCENARIO, register_toy_classifier, write_toy_files
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def evaluated_version(tmp_path, tiny_encoder_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    register_toy_classifier(write_toy_files(tmp_path / "toy"), tiny_encoder_path)
    job = classifier_training_start(scenario=TOY_SCENARIO, params={"config": {
        "method": "full", "epochs": 1, "plugins": {"augmentation": {"ops": ["typo"], "filter": "none"},
                                                   "adversarial": {"method": "fgm", "epsilon": 0.3}}}})
    assert job_run(job_id=job.pk, work=train_classifier_job.work, worker="test").state == Job.State.SUCCEEDED
    version = ModelVersion.objects.get(scenario=TOY_SCENARIO)
    job = robustness_evaluation_start(version=version, params={"attack_examples": 10, "sentence_similarity": 0.5})
    assert job_run(job_id=job.pk, work=evaluate_robustness_job.work, worker="test").state == Job.State.SUCCEEDED
    torch.set_num_threads(threads)
    yield version
    unregister_scenario(TOY_SCENARIO)


def test_robustness_section_draws_its_chart(page, live_server, admin_user, evaluated_version, tmp_path):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, live_server, admin_user.username, "pw-" + admin_user.username)
    page.goto(f"{live_server.url}/models/{evaluated_version.pk}/")
    section = page.locator("#robustness")
    section.scroll_into_view_if_needed()
    assert "Word-substitution attack" in section.inner_text()
    assert "FGM on the word embeddings" in section.inner_text() and "typo" in section.inner_text()
    page.wait_for_function("() => document.querySelector('canvas[data-robustness-chart]').robustnessChart")
    bars = page.evaluate("() => document.querySelector('canvas[data-robustness-chart]').robustnessChart.data.labels")
    assert bars[0] == "clean" and bars[-1] == "word-substitution attack" and len(bars) == 7
    assert errors == []
    if os.environ.get("SCREENSHOT_DIR"):
        section.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "robustness-section.png"))
