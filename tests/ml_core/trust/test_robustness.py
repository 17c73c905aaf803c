"""Robustness evaluation: the word-substitution attack finds the flip of a deliberately fragile
model, counts its queries, respects its budget; perturbation accuracy; the CLI's JSON and errors."""
import json

import pytest

from ml_core.augmentation.encoder import TextEmbedder
from ml_core.augmentation.synonyms import LexiconSynonyms
from ml_core.cli import main as cli_main
from ml_core.data import LabelledTexts
from ml_core.errors import UserError
from ml_core.trust.robustness import (
    AttackSettings,
    QueryCounter,
    RobustnessSettings,
    attack_example,
    evaluate_robustness,
)

TRAIN = [("refund", "refund"), ("a refund", "refund"), ("refund it", "refund"), ("my card is lost", "card"),
         ("please send my card", "card"), ("the card for my order", "card"), ("card today", "card")]
TEST = LabelledTexts(["refund my order", "i lost my card yesterday", "refund the broken kettle",
                      "my card is lost"], ["refund", "card", "refund", "refund"], source="written-for-tests")
SYNONYMS = LexiconSynonyms({"refund": ["reimburse", "repay"], "card": ["cards"], "order": ["purchase"]})


class FragileModel:
    """Exact-word features and a linear model: 'refund' is nearly all it knows of the refund
    class, so a synonym it never saw flips it. A real (scikit-learn) model, fragile by design."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression

        texts, labels = zip(*TRAIN)
        self.vectorizer = CountVectorizer(binary=True).fit(texts)
        self.classifier = LogisticRegression(C=100.0).fit(self.vectorizer.transform(texts), labels)
        self.labels = list(self.classifier.classes_)

    def predict_proba(self, texts):
        return self.classifier.predict_proba(self.vectorizer.transform(list(texts)))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads; on a shared CPU their spin-waits cost seconds."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def embedder(tiny_encoder_path):
    return TextEmbedder(str(tiny_encoder_path))


def test_attack_finds_the_synonym_that_flips_a_fragile_model(embedder):
    model = FragileModel()
    counter = QueryCounter(model.predict_proba)
    label = model.labels.index("refund")
    outcome = attack_example("refund my order", label, counter, SYNONYMS, embedder,
                             AttackSettings(sentence_similarity=0.0))
    assert outcome.status == "succeeded"
    assert outcome.adversarial in ("reimburse my order", "repay my order")
    assert model.labels[outcome.adversarial_label] == "card"
    assert outcome.changed_words == 1
    # 1 clean query + 2 deletions (refund, order: the words with synonyms) + the 2 refund candidates
    assert outcome.queries == counter.queries == 5


def test_attack_respects_its_budget_and_skips_what_is_already_wrong(embedder):
    model = FragileModel()
    counter = QueryCounter(model.predict_proba)
    card = model.labels.index("card")
    # only "card" has a synonym, and "cards" keeps the prediction: the attack fails
    assert attack_example("my card is lost", card, counter, SYNONYMS, embedder,
                          AttackSettings(sentence_similarity=0.0)).status == "failed"
    wrong = attack_example("my card is lost", model.labels.index("refund"), counter, SYNONYMS, embedder,
                           AttackSettings())
    assert wrong.status == "skipped" and wrong.queries == 1


def test_report_has_clean_perturbed_and_attacked_figures(embedder):
    settings = RobustnessSettings(attack=AttackSettings(sentence_similarity=0.0), seed=1)
    report = evaluate_robustness(FragileModel(), TEST, settings=settings, embedder=embedder, synonyms=SYNONYMS)
    assert report["n"] == 4 and report["clean_accuracy"] == 0.75  # the last example is labelled wrongly
    assert set(report["perturbations"]) == {"char_noise", "typo", "word_dropout", "word_swap", "synonym"}
    for figures in report["perturbations"].values():
        assert 0.0 <= figures["accuracy"] <= 1.0 and figures["drop"] == pytest.approx(0.75 - figures["accuracy"])
    attack = report["attack"]
    assert attack["attacked"] == 3 and attack["skipped_misclassified"] == 1
    # "refund my order" flips; the kettle still reads as a refund without the word; the card holds
    assert attack["succeeded"] == 1 and attack["examples"][0]["original"] == "refund my order"
    assert attack["attack_success_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert attack["accuracy_under_attack"] == 0.5 and attack["queries_per_example"] > 1
    assert attack["examples"][0]["label"] == "refund" and attack["examples"][0]["predicted"] == "card"


def test_unknown_perturbations_and_bad_settings_are_clear_errors():
    with pytest.raises(UserError, match="unknown perturbation 'blur'"):
        RobustnessSettings(perturbations=("typo", "blur")).validate()
    with pytest.raises(UserError, match="max_perturbed must be in"):
        RobustnessSettings(attack=AttackSettings(max_perturbed=0)).validate()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_encoder_path):
    from ml_core.training import ClassifierConfig, train_classifier

    folder = tmp_path_factory.mktemp("robust") / "model"
    texts, labels = zip(*(TRAIN * 2))
    train_classifier(ClassifierConfig(method="head", base_model=str(tiny_encoder_path), device="cpu"),
                     LabelledTexts(list(texts), list(labels)), folder)
    return folder


def test_cli_prints_the_report_as_json(tiny_model, tmp_path, capsys):
    data = tmp_path / "test.csv"
    data.write_text("text,label\n" + "\n".join(f"{t},{y}" for t, y in zip(TEST.texts, TEST.labels)) + "\n")
    code = cli_main(["robustness", "--model", str(tiny_model), "--data", str(data), "--text-col", "text",
                     "--label-col", "label", "--device", "cpu", "--perturbations", "typo,word_swap",
                     "--sentence-similarity", "0.5"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and set(report["perturbations"]) == {"typo", "word_swap"}
    assert {"clean_accuracy", "accuracy_under_attack", "attack_success_rate", "queries_per_example"} <= set(report["attack"])
    assert report["similarity_encoder"] == report["base_model"]


def test_cli_names_the_problem(tiny_model, tmp_path, capsys):
    data = tmp_path / "test.csv"
    data.write_text("text,label\nhello there,refund\n")
    assert cli_main(["robustness", "--model", str(tiny_model), "--data", str(data), "--perturbations", "blur"]) == 2
    assert "unknown perturbation 'blur'" in capsys.readouterr().err
    data.write_text("text,label\nhello there,weather\n")
    assert cli_main(["robustness", "--model", str(tiny_model), "--data", str(data), "--no-attack"]) == 2
    assert "unknown label 'weather'" in capsys.readouterr().err
