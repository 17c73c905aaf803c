"""Model cards for model versions (ml_core.trust.model_card), on the page and in the artifact.

Every version gets `model_card.md` in its artifact folder, written by the registry just before
the folder is sealed (`model_card_write`), from what the builder returned and the files it
wrote. Reports that come later (robustness, compression) are stored in the version's metrics,
since the sealed folder cannot change; the version page and the download therefore show the
live card (`model_card` / `model_card_markdown`), which includes them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ml_core.trust import CARD_FILE, build_model_card, read_artifact_reports, render_markdown

from ..models import ModelVersion
from ..scenarios import get_scenario

log = logging.getLogger(__name__)

def _scenario_texts(scenario_key: str) -> tuple[str, str, list[str]]:
    """(label, intended use, known limits) of a scenario, with fallbacks for unknown ones."""
    try:
        scenario = get_scenario(scenario_key)
    except KeyError:
        return scenario_key, "", []
    intended = getattr(scenario, "intended_use", "") or scenario.description
    return scenario.label, intended, list(getattr(scenario, "known_limits", ()) or ())


def _evaluation_files() -> tuple[tuple[str, str], ...]:
    from .classifier_files import TEST_REPORT_FILE

    return (("test set", TEST_REPORT_FILE), ("validation split", "evaluation.json"))


def _card(*, folder: Path, scenario: str, title_suffix: str, base_model: str, metrics: dict, training_data: dict,
          facts: dict[str, Any]) -> dict[str, Any]:
    label, intended, limits = _scenario_texts(scenario)
    reports = read_artifact_reports(folder, _evaluation_files())
    return build_model_card(
        title=f"{label} {title_suffix}".strip(), scenario=scenario, intended_use=intended, base_model=base_model,
        facts=facts, classifier=reports["classifier"], training_data=reports["training_data"] or training_data,
        evaluation=reports["evaluation"], evaluated_on=reports["evaluated_on"], metrics=metrics,
        robustness=metrics.get("robustness"), compression=metrics.get("compression"),
        faithfulness=reports["faithfulness"], limits=limits, artifact_metrics=reports["metrics"],
        serving=reports["serving"], compression_report=reports["compression"])


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def model_card(*, version: ModelVersion) -> dict[str, Any]:
    """The live card of a version (with robustness and compression results once they exist)."""
    from .model_files import artifact_dir

    facts = {"version": version.version, "status": "active" if version.is_active else "inactive",
             "created": f"{version.created_at:%Y-%m-%d %H:%M}", "sha256": version.sha256[:16]}
    if version.notes:
        facts["notes"] = version.notes
    card = _card(folder=artifact_dir(version), scenario=version.scenario, title_suffix=f"v{version.version}",
                 base_model=version.base_model, metrics=version.metrics or {},
                 training_data=version.training_data_summary or {}, facts=facts)
    card["evaluation_items"] = [(key.replace("_", " "), _shown(value)) for key, value in (card["evaluation"] or {}).items()
                                if value not in (None, "")]
    return card


def model_card_markdown(*, version: ModelVersion) -> str:
    return render_markdown(model_card(version=version))


def model_card_write(folder: Path, *, scenario: str, built) -> None:
    """Write model_card.md into an artifact folder that is about to be sealed."""
    from django.utils import timezone

    card = _card(folder=folder, scenario=scenario, title_suffix=f"(trained {timezone.now():%Y-%m-%d %H:%M})",
                 base_model=built.base_model, metrics=built.metrics or {},
                 training_data=built.training_data_summary or {}, facts={"artifact": folder.name.split(".partial-")[0]})
    path = folder / CARD_FILE
    path.unlink(missing_ok=True)  # a file copied by hard link from another version must not be written through
    path.write_text(render_markdown(card), encoding="utf-8")
