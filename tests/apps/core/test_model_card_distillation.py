"""A model version that is a distilled int8 student: its model card (in the artifact, live and
downloaded) has the Distillation section naming the teacher, the transfer set and each stage."""
import shutil

import pytest
from django.urls import reverse

from apps.core.services.model_cards import model_card
from apps.core.services.registry import BuiltArtifact, artifact_dir, model_version_create
from tests.ml_core.trust.test_model_card_distillation import build_stages

pytestmark = pytest.mark.django_db


def test_a_distilled_versions_card_names_teacher_transfer_set_and_stages(tmp_path, tiny_encoder_path,
                                                                        operator_client):
    stages = build_stages(tmp_path / "models", tiny_encoder_path)

    def build(folder):
        shutil.copytree(stages["int8"], folder, dirs_exist_ok=True)
        (folder / "model_card.md").unlink(missing_ok=True)
        return BuiltArtifact(base_model="tiny student", notes="distilled")

    version = model_version_create(scenario="tests.distilled", build=build)
    written = (artifact_dir(version) / "model_card.md").read_text()
    for text in ("## Distillation", f"- **teacher**: {tiny_encoder_path} (full)",
                 "90 unlabelled texts from `toy-tweets.csv`", "| teacher |", "| student |",
                 "| served variant | ONNX int8 (dynamic) |"):
        assert text in written

    card = model_card(version=version)
    assert [s["stage"] for s in card["distillation"]["stages"]] == [
        "teacher", "teacher", "student", "student", "served variant"]
    downloaded = operator_client.get(reverse("model_version_card", args=[version.pk])).content.decode()
    assert "## Distillation" in downloaded and "| served variant |" in downloaded

    page = operator_client.get(reverse("model_version_detail", args=[version.pk])).content.decode()
    section = page[page.index("<h3>Distillation"):page.index("Known limits")]
    assert f"{tiny_encoder_path} (full)" in section and "90 unlabelled texts from toy-tweets.csv" in section
    rows = section.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert [row.split("</td>")[0].removeprefix("<td>") for row in rows] == [
        "Teacher", "Teacher", "Student", "Student", "Served variant"]
    assert "held-out split" in section and "the guardrail&#x27;s data" in section
