"""Synonym sources: a WordNet database folder (files in WordNet's own format, written for these
tests), the "wordnet" lookup and its errors."""
import pytest

from ml_core.augmentation import perturb, synonyms
from ml_core.augmentation.synonyms import build_synonym_source, load_lexicon, wordnet_table
from ml_core.augmentation.text import stable_rng
from ml_core.errors import UserError

HEADER = "  1 This file is a small WordNet-format database written for these tests.\n"
FILES = {
    "data.noun": ["00000001 06 n 02 refund 0 repayment 0 000 | money paid back",
                  "00000002 06 n 02 refund 0 return 1 000 | the act of giving back",
                  "00000003 06 n 03 card 0 identity_card 0 ID 0 001 @ 00000001 n 0000 | a card that proves who you are"],
    "index.noun": ["card n 1 1 @ 1 0 00000003", "identity_card n 1 0 1 0 00000003", "refund n 2 0 2 0 00000001 00000002"],
    "data.verb": ["00000010 40 v 02 reactivate 0 restart 0 01 + 01 00 | make active again"],
    "index.verb": ["reactivate v 1 0 1 0 00000010", "restart v 1 0 1 0 00000010"],
    "data.adj": ["00000020 00 a 02 strange 0 unusual(a) 0 000 | not usual"],
    "index.adj": ["strange a 1 0 1 0 00000020"],
    "data.adv": [], "index.adv": [],
}


@pytest.fixture
def wordnet_dir(tmp_path):
    folder = tmp_path / "wordnet"
    folder.mkdir()
    for name, lines in FILES.items():
        (folder / name).write_text(HEADER + "".join(line + "\n" for line in lines))
    return folder


def test_wordnet_synonyms_are_the_other_words_of_the_most_frequent_senses(wordnet_dir):
    first = wordnet_table(wordnet_dir)
    assert first["refund"] == ["repayment"]  # the second sense ("return") only with max_senses=2
    assert wordnet_table(wordnet_dir, max_senses=2)["refund"] == ["repayment", "return"]
    assert first["card"] == ["id"]  # multi-word lemmas (identity_card) are left out
    assert first["reactivate"] == ["restart"] and first["restart"] == ["reactivate"]
    assert first["strange"] == ["unusual"]  # the adjective marker "(a)" is removed
    assert "identity_card" not in first


def test_a_wordnet_folder_or_the_installed_wordnet_is_a_synonym_source(wordnet_dir, monkeypatch):
    by_folder = build_synonym_source(str(wordnet_dir), [], embedder_factory=None)
    assert by_folder.name == "wordnet" and by_folder.synonyms("Refund") == ["repayment"]
    monkeypatch.setenv("WNSEARCHDIR", str(wordnet_dir))
    installed = load_lexicon("wordnet")
    assert installed.describe() == {"source": "wordnet", "file": f"WordNet at {wordnet_dir}",
                                    "words_with_synonyms": 5}
    changed = perturb.synonym_replacement("I want a refund.", stable_rng(1), 0.5, synonyms=installed)
    assert changed == "I want a repayment."


def test_wordnet_not_installed_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WNSEARCHDIR", str(tmp_path))
    monkeypatch.setattr(synonyms, "WORDNET_DEFAULT_DIRS", (str(tmp_path / "nowhere"),))
    with pytest.raises(UserError, match="WordNet's database is not installed .* apt-get install wordnet-base"):
        load_lexicon("wordnet")


def test_a_damaged_wordnet_file_is_named_with_its_line(wordnet_dir):
    (wordnet_dir / "data.verb").write_text(HEADER + "00000010 40 v zz reactivate 0\n")
    with pytest.raises(UserError, match=r"data\.verb, line 2: not a WordNet data line"):
        wordnet_table(wordnet_dir)
    with pytest.raises(UserError, match="is not a WordNet database folder"):
        wordnet_table(wordnet_dir / "missing")
