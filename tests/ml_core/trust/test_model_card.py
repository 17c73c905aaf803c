"""Model cards from an artifact's own files and figures: every section, derived limits, Markdown."""
from ml_core.trust.model_card import build_model_card, read_artifact_reports, render_markdown

CLASSIFIER = {"method": "full", "base_model": "all-MiniLM-L6-v2", "labels": ["negative", "neutral", "positive"],
              "max_length": 128, "temperature": 1.3,
              "training_config": {"plugins": {"augmentation": {"ops": ["typo", "synonym"], "few_shot_k": 10},
                                              "adversarial": {"method": "fgm", "epsilon": 0.5}}}}
TRAINING_DATA = {"train": {"source": "phrasebank.csv", "n": 120, "duplicates_dropped": 4,
                           "label_counts": {"neutral": 80, "positive": 30, "negative": 10}},
                 "valid": {"n": 30}, "plugins": {"augmentation": {"added": 55}}}
EVALUATION = {"n": 200, "accuracy": 0.84, "macro_f1": 0.79, "ece": 0.08, "ece_uncalibrated": 0.12, "temperature": 1.3,
              "per_class": [{"label": "negative", "precision": 0.7, "recall": 0.6, "f1": 0.646, "support": 20},
                            {"label": "neutral", "precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 150},
                            {"label": "positive", "precision": 0.8, "recall": 0.85, "f1": 0.82, "support": 30}],
              "slices": {"settings": {"margin": 0.05}, "columns": ["source", "length"],
                         "flagged": [{"column": "source", "value": "forum", "n": 40, "accuracy": 0.7, "gap": -0.14}]}}
ROBUSTNESS = {"clean_accuracy": 0.84, "data": "test set", "perturbations": {"typo": {"accuracy": 0.8, "drop": 0.04}},
              "attack": {"accuracy_under_attack": 0.3, "attack_success_rate": 0.64}}
COMPRESSION = {"promoted": "int8", "reason": "int8 promoted", "variants": [
    {"name": "fp32", "accuracy": 0.84, "accuracy_drop_points": 0.0, "size_mb": 90.0, "throughput_speedup": 1.0,
     "p50_speedup": 1.0},
    {"name": "int8", "accuracy": 0.838, "accuracy_drop_points": 0.2, "size_mb": 23.0, "throughput_speedup": 2.1,
     "p50_speedup": 1.8}]}
FAITHFULNESS = {"n": 50, "mean_drop_top": 0.31, "mean_drop_random": 0.05, "passed": True,
                "settings": {"fraction": 0.2}}


def test_a_full_card_has_every_section_and_derived_limits():
    card = build_model_card(title="Finance sentiment v3", scenario="finance_sentiment.sentiment",
                            intended_use="Score financial news for sentiment.", classifier=CLASSIFIER,
                            training_data=TRAINING_DATA, evaluation=EVALUATION, evaluated_on="test set",
                            robustness=ROBUSTNESS, compression=COMPRESSION, faithfulness=FAITHFULNESS,
                            limits=["English only."])
    assert card["model"]["method"] == "full" and card["model"]["labels"] == 3
    assert card["training_data"]["label_counts"]["negative"] == 10 and card["training_data"]["validation"] == 30
    assert card["augmentation"] == [("data augmentation: typo, synonym (55 rows added); trained on 10 labelled "
                                    "examples per class"), "adversarial training: FGM (epsilon 0.5)"]
    assert card["evaluation"]["data"] == "test set" and len(card["per_class"]) == 3
    assert card["calibration"]["ece"] == 0.08 and card["compression"]["serving"]["name"] == "int8"
    assert card["robustness"]["perturbations"] == {"typo": 0.8}
    limits = card["known_limits"]
    assert limits[0] == "English only."
    assert any("Few training examples for negative (10)" in line for line in limits)
    assert any("negative (0.65)" in line for line in limits)  # weak class
    assert any("ECE 0.080" in line for line in limits)
    assert any("source = forum is 70.0%, 14.0 points below" in line for line in limits)
    assert any("changes 64.0%" in line for line in limits)

    markdown = render_markdown(card)
    for heading in ("# Model card: Finance sentiment v3", "## Intended use", "## Training data", "## Augmentation",
                    "## Evaluation", "### Calibration", "### Slices", "### Explanations", "### Robustness",
                    "### Compression", "## Known limits"):
        assert heading in markdown
    assert "| negative | 10 |" in markdown and "| int8 | 0.8380 | 0.2000 | 23.0000 | 2.1000 | 1.8000 |" in markdown


def test_a_card_with_nothing_known_still_renders(tmp_path):
    card = build_model_card(title="Recommender v1", metrics={"ndcg@10": 0.31, "note": "x"})
    assert card["evaluation"] == {"ndcg@10": 0.31} and card["training_data"] is None
    markdown = render_markdown(card)
    assert "Not described by the scenario." in markdown and "None recorded." in markdown
    assert read_artifact_reports(tmp_path) == {"classifier": None, "training_data": None, "evaluation": None,
                                               "evaluated_on": "", "faithfulness": None, "metrics": None,
                                               "serving": None, "compression": None}
