"""Loading labelled text: column mapping, label maps, dedupe, and an error naming the row."""
import json

import pytest

from ml_core.data import (
    DataError,
    LabelledTexts,
    label_counts,
    load_labelled,
    load_texts,
    parse_label_map,
    stratified_split,
    texts_digest,
)
from tests.conftest import SHARED_DATA


def _csv(tmp_path, body: str, name: str = "data.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(body.encode(encoding))
    return path


def test_csv_with_mapped_columns_labels_and_meta(tmp_path):
    path = _csv(tmp_path, "msg,intent,lang\r\n\"Hello, where is\r\nmy card?\",card , en\r\n"
                          "Refund please,refund,fr\r\nCard lost,card,en\r\nRefund please,refund,fr\r\n"
                          "Refund please,other,fr\r\n")
    data = load_labelled(path, text_col="msg", label_col="intent", label_map={"other": "refund"},
                         min_per_class=1)
    assert data.texts == ["Hello, where is\nmy card?", "Refund please", "Card lost"]
    assert data.labels == ["card", "refund", "card"]
    assert data.meta[1] == {"lang": "fr"}
    assert data.stats == {"duplicates_dropped": 2, "conflicting_texts": 0}
    assert label_counts(data) == {"card": 2, "refund": 1}
    assert data.summary()["n"] == 3


def test_same_text_under_two_labels_is_kept_and_counted(tmp_path):
    path = _csv(tmp_path, "text,label\na,x\na,y\nb,x\nc,y\n")
    data = load_labelled(path, min_per_class=1)
    assert len(data) == 4 and data.stats["conflicting_texts"] == 1


def test_jsonl(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"text": "up", "label": 1, "src": "a"}, {"text": "down", "label": 0}, {"text": "up!", "label": 1},
        {"text": "down!", "label": 0},
    ]) + "\n\n")
    data = load_labelled(path, label_map="0=neg,1=pos")
    assert data.labels == ["pos", "neg", "pos", "neg"] and data.meta[0] == {"src": "a"}


@pytest.mark.parametrize("body, message", [
    ("text,label\nfine,a\n   ,b\n", r"data.csv, row 3: field 'text' is empty"),
    ("text,label\nfine,a\nfine too,\n", r"data.csv, row 3: field 'label' is empty"),
    ("words,label\nfine,a\n", r"data.csv has no text column 'text' \(columns: words, label\)"),
    ("text,category\nfine,a\n", r"data.csv has no label column 'label' \(columns: text, category\)"),
    ("text,label\nfine,a\nb,a,extra\n", r"data.csv, row 3 \(line 3\): 3 fields but the header has 2"),
    ("", r"data.csv is empty"),
    ("text,label\n", r"data.csv has no data rows"),
])
def test_bad_csv_names_the_row_and_field(tmp_path, body, message):
    with pytest.raises(DataError, match=message):
        load_labelled(_csv(tmp_path, body), min_per_class=1)


def test_unknown_label_names_the_row(tmp_path):
    path = _csv(tmp_path, "text,label\na,pos\nb,neg\nc,meh\n")
    with pytest.raises(DataError, match=r"row 4: field 'label' has unknown label 'meh' \(known: neg, pos\)"):
        load_labelled(path, allowed_labels=["pos", "neg"], min_per_class=1)


def test_wrong_encoding_names_the_line(tmp_path):
    path = _csv(tmp_path, "text,label\nplain,a\nSepp\u00e4l\u00e4 sells,b\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"data.csv: line 3 is not valid utf-8 \(byte 0xe4.*--encoding latin-1"):
        load_labelled(path, min_per_class=1)
    assert load_labelled(path, encoding="latin-1", min_per_class=1).texts[1] == "Sepp\u00e4l\u00e4 sells"


def test_too_few_examples_per_class(tmp_path):
    path = _csv(tmp_path, "text,label\na,x\nb,x\nc,y\nd,z\n")
    with pytest.raises(DataError, match=r"class 'y' \(row 4\) has 1 example, need at least 2 per class; "
                                        r"1 more classes are short too"):
        load_labelled(path)


def test_bad_jsonl_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b" "label": "x"}\n')
    with pytest.raises(DataError, match=r"d.jsonl, line 2: not valid JSON"):
        load_labelled(path, min_per_class=1)
    path.write_text('{"text": "a", "label": "x"}\n{"body": "b", "label": "x"}\n')
    with pytest.raises(DataError, match=r"d.jsonl, line 2 has no text column 'text' \(columns: body, label\)"):
        load_labelled(path, min_per_class=1)
    path.write_text('{"text": 5, "label": "x"}\n')
    with pytest.raises(DataError, match=r"line 1: field 'text' is not text \(int\)"):
        load_labelled(path, min_per_class=1)


def test_label_map_forms(tmp_path):
    assert parse_label_map("0=a, 1=b") == {"0": "a", "1": "b"}
    assert parse_label_map('{"0": "a"}') == {"0": "a"}
    (tmp_path / "m.json").write_text('{"x": "y"}')
    assert parse_label_map(str(tmp_path / "m.json")) == {"x": "y"}
    with pytest.raises(DataError, match="not RAW=LABEL"):
        parse_label_map("0:a")


def test_stratified_split_keeps_every_class_on_both_sides():
    labels = ["a"] * 50 + ["b"] * 10 + ["c"] * 2
    data = LabelledTexts([f"t{i}" for i in range(len(labels))], labels)
    train, test = stratified_split(data, test_fraction=0.2, seed=54)
    assert label_counts(test) == {"a": 10, "b": 2, "c": 1}
    assert label_counts(train) == {"a": 40, "b": 8, "c": 1}
    assert set(train.texts).isdisjoint(test.texts)
    again, _ = stratified_split(data, test_fraction=0.2, seed=54)
    assert again.texts == train.texts
    other, _ = stratified_split(data, test_fraction=0.2, seed=1)
    assert other.texts != train.texts
    with pytest.raises(DataError, match="class 'z' has 1 example"):
        stratified_split(LabelledTexts(["a", "b", "c"], ["x", "x", "z"]), test_fraction=0.5, seed=0)


def test_load_texts(tmp_path):
    (tmp_path / "t.txt").write_text("one\n\ntwo\n")
    assert load_texts(tmp_path / "t.txt") == ["one", "two"]
    assert load_texts(_csv(tmp_path, "body\nx\ny\n"), text_col="body") == ["x", "y"]


def test_real_banking77_loads_with_embedded_newlines():
    data = load_labelled(SHARED_DATA / "banking77" / "train.csv", label_col="category")
    # 8002 rows (10 with a quoted newline, which a line-based reader would split); three texts
    # repeat once their trailing newline is stripped and are kept once.
    assert len(data) + data.stats["duplicates_dropped"] == 8002 and data.stats["duplicates_dropped"] == 3
    assert len(data.label_set) == 77 and not any(t != t.strip() or "\r" in t for t in data.texts)


def test_real_phrasebank_keeps_agreement_as_meta():
    data = load_labelled(SHARED_DATA / "financial_phrasebank" / "financial_phrasebank.csv")
    assert len(data) == 3871 and data.stats["conflicting_texts"] == 1
    assert len(data.where(lambda _t, _y, meta: meta["agreement"] == "100")) == 1828


def test_texts_digest_names_the_texts_whatever_their_order_split_or_labels():
    data = LabelledTexts(["profit rose", "loss widened", "shares flat", "profit rose"],
                         ["positive", "negative", "neutral", "positive"])
    first, second = LabelledTexts(data.texts[2:], data.labels[2:]), LabelledTexts(data.texts[:2], data.labels[:2])
    reordered = LabelledTexts(list(reversed(data.texts)), ["neutral"] * 4)  # labels do not count
    assert texts_digest(data) == texts_digest(first, second) == texts_digest(reordered)
    changed = LabelledTexts(["profit rose", "loss widened", "shares flat."], ["positive", "negative", "neutral"])
    assert texts_digest(changed) != texts_digest(data)
    assert len(texts_digest(data)) == 64
