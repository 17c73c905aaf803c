"""Trust: personal-data masking, guard rails, explanations, robustness attacks, model cards.

The names below are what apps may use (`from ml_core.trust import mask_pii`); the submodules are
internals (an import-linter contract in pyproject.toml keeps apps and config off them). Each name
loads its submodule on first use, so importing this package imports nothing heavy (explain,
faithfulness and robustness bring numpy and the augmentation code).
"""
_EXPORTS = {
    # pii.py: find and mask personal data before text is stored or shown
    "PiiConfig": "pii", "MaskResult": "pii", "find_pii": "pii", "mask_pii": "pii",
    # guard.py: checks on a chat's input (abuse, prompt injection) and output (citations, leaks)
    "GuardSettings": "guard", "Verdict": "guard", "check_input": "guard", "check_output": "guard",
    # model_card.py
    "CARD_FILE": "model_card", "build_model_card": "model_card", "read_artifact_reports": "model_card",
    "render_markdown": "model_card",
    # explain.py, faithfulness.py: token attributions and how faithful they are
    "Explainer": "explain", "ExplainSettings": "explain", "Explanation": "explain",
    "SimilarityExplainer": "explain",
    "FaithfulnessSettings": "faithfulness", "faithfulness_check": "faithfulness",
    # robustness.py: perturbations and a word-substitution attack
    "DEFAULT_PERTURBATIONS": "robustness", "AttackSettings": "robustness",
    "RobustnessSettings": "robustness", "robustness_of_model": "robustness",
    # recommendation.py: which history items a recommendation came from
    "history_contributions": "recommendation",
}

# A literal list, so that linters and `from ml_core.trust import *` see the names; the same as
# sorted(_EXPORTS) (tests/ml_core/trust/test_exports.py checks it).
__all__ = [
    "CARD_FILE", "DEFAULT_PERTURBATIONS", "AttackSettings", "ExplainSettings", "Explainer", "Explanation",
    "FaithfulnessSettings", "GuardSettings", "MaskResult", "PiiConfig", "RobustnessSettings",
    "SimilarityExplainer", "Verdict", "build_model_card", "check_input", "check_output", "faithfulness_check",
    "find_pii", "history_contributions", "mask_pii", "read_artifact_reports", "render_markdown",
    "robustness_of_model",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
