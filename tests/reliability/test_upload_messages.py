"""What uploads store and what their errors show to people on the web.

- A Financial PhraseBank `.txt` saved as UTF-8 is read as UTF-8 (it was read as Latin-1 and
  stored garbled); the PhraseBank's own Latin-1 files still load.
- Errors name the uploaded file, never the server's temporary folder, and give no CLI flags.
- A CSV header with a million columns is refused in a short message (it was an 8.9 MB error
  listing every column).
"""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.customer_service.services.kb_io import KBImportError, kb_import_read
from apps.finance_sentiment.models import LabelledExample, LabelledSet
from apps.finance_sentiment.services.ingestion import IngestError
from apps.finance_sentiment.services.training import labelled_set_upload
from apps.finance_sentiment.services.uploads import upload_parse
from ml_core.data import DataError, load_labelled

pytestmark = pytest.mark.django_db

SENTENCES = [("Nestlé's operating profit rose to 5 € per share.", "positive"),
             ("Net sales in Düsseldorf were flat — as expected.", "neutral"),
             ("Ålandsbanken cut its forecast.", "negative")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
def test_phrasebank_text_is_stored_as_written_in_utf8_or_latin1(encoding):
    sentences = SENTENCES if encoding != "latin-1" else [(t.replace("€", "EUR").replace("—", "-"), y)
                                                         for t, y in SENTENCES]
    content = "\r\n".join(f"{text}@{label}" for text, label in sentences).encode(encoding)
    labelled = labelled_set_upload(name="pb", file_name="Sentences_AllAgree.txt", content=content)
    stored = list(LabelledExample.objects.filter(labelled_set=labelled).order_by("pk").values_list("text", "label"))
    assert stored == sentences


def test_phrasebank_line_numbers_count_blank_lines():
    content = b"Profit rose.@positive\n\n\nSales fell.@nonsense\n"
    with pytest.raises(DataError, match=r"^pb.txt, line 4: field 'label' has unknown label 'nonsense'"):
        labelled_set_upload(name="pb", file_name="pb.txt", content=content)


@pytest.mark.parametrize("content, expected", [
    (b"text,label\nProfit rose.,positive\nSales fell.,sideways\n", r"^bad.csv, row 3: field 'label' has unknown label"),
    ("text,label\nUmsatz f\u00e4llt,negative\n".encode("latin-1"),
     r"^bad.csv: line 2 is not valid utf-8 \(byte 0xe4 at offset \d+\); save the file as UTF-8$"),
    (b"words,label\nx,positive\n", r"^bad.csv has no text column 'text' \(columns: words, label\)$"),
])
def test_labelled_set_errors_name_the_upload_not_a_server_path_or_cli_flag(content, expected):
    with pytest.raises(DataError, match=expected) as caught:
        labelled_set_upload(name="bad", file_name="bad.csv", content=content)
    assert "/" not in str(caught.value) and "--" not in str(caught.value)
    assert not LabelledSet.objects.exists()


def test_the_models_page_shows_the_upload_error_without_server_paths(admin_client, tmp_path):
    response = admin_client.post("/finance/models/sets/", {
        "file": SimpleUploadedFile("bad.csv", b"text,label\nProfit rose.,sideways\n"), "role": "train",
        "name": "bad"}, follow=True)
    page = response.content.decode()
    assert "bad.csv, row 2: field &#x27;label&#x27; has unknown label" in page
    assert "/tmp" not in page and str(tmp_path.parent) not in page


def test_a_label_map_from_a_web_form_is_never_read_as_a_server_file(tmp_path):
    mapping = tmp_path / "map.json"
    mapping.write_text('{"up": "positive"}')
    with pytest.raises(DataError, match="is not RAW=LABEL"):
        labelled_set_upload(name="m", file_name="m.csv", content=b"text,label\nProfit rose.,up\n",
                            label_map=str(mapping))
    data = tmp_path / "m.csv"
    data.write_bytes(b"text,label\nProfit rose.,up\n")
    assert load_labelled(data, label_map=str(mapping), min_per_class=1).labels == ["positive"]  # the CLI still can


# --- a header a million columns wide -----------------------------------------------------------------------
WIDE = (",".join(f"c{n}" for n in range(1_000_000)) + "\n" + ",".join("x" * 1_000_000) + "\n").encode()


def _assert_short_and_counted(message: str) -> None:
    assert len(message) < 400, f"{len(message):,} characters"
    assert "1,000,000 columns (c0, c1, c2 and 999,997 more); at most 1,000 are read" in message


def test_a_million_columns_get_a_short_error_everywhere():
    with pytest.raises(IngestError) as upload:
        upload_parse(content=WIDE, name="wide.csv")
    _assert_short_and_counted(str(upload.value))
    with pytest.raises(KBImportError) as kb:
        kb_import_read(data=WIDE, name="wide.csv", format="csv")
    _assert_short_and_counted(str(kb.value))
    with pytest.raises(DataError) as labelled:
        labelled_set_upload(name="wide", file_name="wide.csv", content=WIDE)
    _assert_short_and_counted(str(labelled.value))


def test_a_missing_column_lists_the_first_few_of_a_wide_header():
    header = ",".join(f"column{n}" for n in range(900))
    with pytest.raises(IngestError, match=r"no 'text' column \(columns: column0, .*column7 and 892 more\)$"):
        upload_parse(content=f"{header}\n".encode(), name="w.csv")
    with pytest.raises(KBImportError, match=r"no question column 'question' \(columns: column0, .* and 892 more\)"):
        kb_import_read(data=f"{header}\n{','.join(['x'] * 900)}\n".encode(), name="w.csv", format="csv")


def test_a_field_over_the_csv_limit_in_the_header_is_a_named_error_not_a_crash():
    content = ("text," + "h" * 200_000 + "\nProfit rose.,x\n").encode()
    with pytest.raises(KBImportError, match=r"^big.csv, row 1 \(the header\): field larger than field limit"):
        kb_import_read(data=content, name="big.csv", format="csv")
    with pytest.raises(DataError, match=r"^big.csv, row 1 \(the header\): field larger than field limit"):
        labelled_set_upload(name="big", file_name="big.csv", content=content)
    with pytest.raises(IngestError, match=r"^big.csv, row 1: field larger than field limit"):
        upload_parse(content=content, name="big.csv")
