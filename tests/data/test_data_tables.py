"""read_table / read_columns: CSV, TSV (no quoting), JSONL, gzip; one clear error per problem."""

from __future__ import annotations

import gzip
import json

import pytest

from rnnkit.data.tables import read_columns, read_table


def test_csv_with_quotes_and_chosen_columns(tmp_path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('id,review,sentiment\n1,"good, ""very"" good",pos\n\n2,bad,neg\n', "utf-8")
    table = read_table(path, text_column="review", label_column="sentiment")
    assert table.texts == ['good, "very" good', "bad"] and table.labels == ["pos", "neg"]
    assert table.line_numbers == [2, 4]
    assert table.classes() == ["neg", "pos"] and table.class_ids() == [1, 0]
    by_index = read_table(path, text_column=1, label_column=None)
    assert by_index.texts == table.texts and by_index.labels is None


def test_tsv_without_quoting_keeps_quotes_and_reads_gzip(tmp_path) -> None:
    body = 'label\ttext\npos\tthe rock is " conan " \nneg\t"quoted start\n'
    path = tmp_path / "rt.tsv.gz"
    path.write_bytes(gzip.compress(body.encode()))
    table = read_table(path)
    assert table.texts == ['the rock is " conan " ', '"quoted start']
    headerless = tmp_path / "pairs.txt"
    headerless.write_text("Go.\tVa !\nHi.\tSalut !\n", "utf-8")
    data = read_columns(headerless, [0, 1], format="tsv", header=False)
    assert data.values == [["Go.", "Hi."], ["Va !", "Salut !"]] and data.header is None


def test_jsonl(tmp_path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "label": 1}\n\n{"text": "b", "label": 0}\n', "utf-8")
    table = read_table(path)
    assert table.texts == ["a", "b"] and table.labels == ["1", "0"]
    assert table.float_labels() == [1.0, 0.0]
    path.write_text('{"text": "a", "label": 1}\n{"text": "b"\n', "utf-8")
    with pytest.raises(ValueError, match=r"data\.jsonl' line 2 is not valid JSON"):
        read_table(path)
    path.write_text('{"text": "a", "label": 1}\n{"text": "b"}\n', "utf-8")
    with pytest.raises(ValueError, match=r"line 2 has no key 'label'; it has \['text'\]"):
        read_table(path)
    path.write_text('[1, 2]\n', "utf-8")
    with pytest.raises(ValueError, match=r"line 1 must be a JSON object; got list"):
        read_table(path)


def test_empty_and_binary(tmp_path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"Table file '.*empty\.csv' is empty"):
        read_table(empty)
    binary = tmp_path / "blob.tsv"
    binary.write_bytes(b"label\ttext\npos\tok\n\x00\x01\x02")
    with pytest.raises(ValueError, match=r"blob\.tsv' line 3 contains a NUL byte"):
        read_table(binary)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncaf\xe9,pos\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.csv' line 2 is not valid UTF-8"):
        read_table(latin)


def test_a_header_without_rows_is_refused_naming_the_file(tmp_path) -> None:
    header_only = tmp_path / "header.csv"
    header_only.write_text("text,label\n\n", "utf-8")
    with pytest.raises(ValueError, match=r"^Table file '.*header\.csv' has a header line but no "
                       r"rows; expected at least one row\.$"):
        read_table(header_only)
    # a caller names the option the file came from, in this and every other message
    name = "Setting `data.train` (--train) file"
    with pytest.raises(ValueError, match=r"^Setting `data\.train` \(--train\) file '.*header"
                       r"\.csv' has a header line but no rows"):
        read_table(header_only, name=name)
    with pytest.raises(ValueError, match=r"^Setting `data\.train` \(--train\) file '.*header"
                       r"\.csv' line 1 has no column 'review'"):
        read_table(header_only, "review", name=name)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"^Setting .*empty\.jsonl' is empty"):
        read_table(empty, name=name)
    rows = tmp_path / "rows.csv"
    rows.write_text("text,label\nhi,pos\n", "utf-8")
    with pytest.raises(ValueError, match=r"^Setting .*rows\.csv' line 2 has the label 'pos', "
                       r"which is not one of"):
        read_table(rows, name=name).class_ids(["neg"])


def test_wrong_delimiter_names_the_delimiter(tmp_path) -> None:
    path = tmp_path / "data.tsv"  # a comma-separated file with a .tsv name
    path.write_text("text,label\nhello,pos\n", "utf-8")
    with pytest.raises(ValueError, match=r"line 1 has no column 'text'.*comma-delimited\?"):
        read_table(path)


def test_ragged_rows_and_missing_values(tmp_path) -> None:
    path = tmp_path / "data.tsv"
    path.write_text("label\ttext\npos\tfine\nneg\ta\ttab inside\n", "utf-8")
    with pytest.raises(ValueError, match=r"data\.tsv' line 3 has 3 fields, expected 2 as in the"):
        read_table(path)
    path.write_text("label\ttext\npos\tfine\n\tno label\n", "utf-8")
    with pytest.raises(ValueError, match=r"data\.tsv' line 3 has an empty label in column 'label'"):
        read_table(path)
    path.write_text("label\ttext\npos\tfine\n", "utf-8")
    with pytest.raises(ValueError, match=r"line 1 has no column 'review'; the header has"):
        read_table(path, text_column="review")
    with pytest.raises(ValueError, match=r"line 2 has the label 'pos', which is not one of"):
        read_table(path).class_ids(["neg"])


def test_bad_csv_quoting_and_format(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('text,label\n"open quote,pos\n', "utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv' line 2 is not valid CSV"):
        read_table(path)
    with pytest.raises(ValueError, match=r"^Table file '.*a\.xml' has the suffix '\.xml', which "
                       r"names no table format; expected \.csv, \.tsv or \.jsonl"):
        read_table(tmp_path / "a.xml")
    with pytest.raises(ValueError, match=r"^Argument `DATA` file '.*a\.xml' has the suffix"):
        read_table(tmp_path / "a.xml", name="Argument `DATA` file")
    with pytest.raises(ValueError, match=r"`format` must be one of csv, tsv, jsonl; got 'xls'"):
        read_table(path, format="xls")
    json_path = tmp_path / "x.jsonl"
    json_path.write_text(json.dumps({"text": "a", "label": None}) + "\n", "utf-8")
    with pytest.raises(ValueError, match=r"key 'label' must be a string or a number"):
        read_table(json_path)
