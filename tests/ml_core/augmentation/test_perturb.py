"""Each rule-based augmenter: deterministic for a seed, changes the text, never empties it."""
import pytest

from ml_core.augmentation import perturb
from ml_core.augmentation.augment import RULE_OPS, AugmentationOptions, _rule_candidates
from ml_core.augmentation.text import split_tokens, stable_rng, token_parts

NEEDS = {"word_insertion", "synonym", "eda"}


@pytest.mark.parametrize("op", sorted(RULE_OPS))
def test_each_augmenter_is_deterministic_changes_the_text_and_never_empties_it(op, labelled, lexicon):
    function = RULE_OPS[op]
    extra = {"synonyms": lexicon} if op in NEEDS else {}
    changed = 0
    for text in labelled.texts:
        first = function(text, stable_rng(7, op, text), 0.2, **extra)
        again = function(text, stable_rng(7, op, text), 0.2, **extra)
        assert first == again, f"{op} is not deterministic for a fixed seed"
        assert first.strip(), f"{op} emptied {text!r}"
        changed += first != text
    assert changed >= len(labelled.texts) - 2, f"{op} changed only {changed} of {len(labelled.texts)} texts"
    # a different seed gives (at least somewhere) a different edit
    other = [function(t, stable_rng(8, op, t), 0.2, **extra) for t in labelled.texts]
    assert other != [function(t, stable_rng(7, op, t), 0.2, **extra) for t in labelled.texts]


def test_candidates_keep_the_label_and_source_of_their_original(labelled, lexicon):
    options = AugmentationOptions(ops=list(RULE_OPS), per_example=2)
    for op in RULE_OPS:
        candidates = _rule_candidates(op, labelled.texts, labelled.labels, options, 3,
                                      lexicon if op in NEEDS else None)
        assert candidates, op
        for c in candidates:
            assert c.op == op and c.label == labelled.labels[c.source] and c.text.strip()
            assert c.text != labelled.texts[c.source]


def test_single_word_and_punctuation_survive():
    rng = stable_rng(1)
    assert perturb.word_dropout("Hello", rng) == "Hello"  # nothing to drop without emptying it
    assert perturb.word_swap("Hello", rng) == "Hello"
    typo = perturb.keyboard_typo("Refund?", stable_rng(2), 1.0)
    assert typo.endswith("?") and typo != "Refund?" and len(typo) == len("Refund?")


def test_keyboard_typos_use_neighbouring_keys():
    for seed in range(20):
        typo = perturb.keyboard_typo("money", stable_rng(seed), 1.0)
        diff = [(a, b) for a, b in zip("money", typo) if a != b]
        assert len(diff) == 1
        original, typed = diff[0]
        assert typed in perturb.KEYBOARD_NEIGHBOURS[original]


def test_synonym_replacement_keeps_case_and_punctuation(lexicon):
    out = perturb.synonym_replacement("Refund, please!", stable_rng(0), 0.5, synonyms=lexicon)
    first, rest = split_tokens(out)[0], split_tokens(out)[1:]
    assert token_parts(first)[1] in ("Reimbursement", "Repayment") and first.endswith(",")
    assert rest == ["please!"]
