import json

import pandas as pd
import pytest

from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.intake.formats import detect_format, read_table

ROWS = [{"a": 1, "b": 0.1, "label": 0}, {"a": 2, "b": 2.5, "label": 1}]


@pytest.mark.parametrize("name", ["d.csv", "d.json", "d.jsonl", "d.ndjson", "d.parquet"])
def test_every_format_reads_the_same_rows(tmp_path, name):
    path = tmp_path / name
    frame = pd.DataFrame(ROWS)
    fmt = detect_format(path)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "json":
        path.write_text(json.dumps(ROWS))
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    else:
        frame.to_parquet(path, index=False)
    read = read_table(path)
    assert read[["a", "b", "label"]].to_dict("records") == ROWS


def test_csv_floats_round_trip_exactly(tmp_path):
    # pandas' default CSV float parser is off by an ulp for some values; ours must not be.
    values = [0.1 + 0.2, 1 / 3, 2.675, 1e-17, 123456.789012345]
    path = tmp_path / "f.csv"
    pd.DataFrame({"x": values}).to_csv(path, index=False)
    assert read_table(path)["x"].tolist() == values


@pytest.mark.parametrize("name", ["data.xlsx", "data", "data.txt"])
def test_unknown_format_says_what_is_supported(tmp_path, name):
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataFileError) as error:
        read_table(path)
    assert error.value.code == "E_FORMAT_UNSUPPORTED" and ".parquet" in error.value.message


def test_json_object_instead_of_array(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"a": [1, 2]}))
    with pytest.raises(DataFileError) as error:
        read_table(path)
    assert error.value.code == "E_FORMAT_JSON_SHAPE"


def test_broken_jsonl_names_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DataFileError, match="line 2"):
        read_table(path)


def test_binary_garbage_csv_is_a_clear_error(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataFileError) as error:
        read_table(path)
    assert error.value.code == "E_FORMAT_BINARY"
    random_bytes = tmp_path / "r.csv"
    random_bytes.write_bytes(bytes((i * 37 + 11) % 255 + 1 for i in range(4096)))  # no NUL, still not CSV
    with pytest.raises(DataFileError) as error:
        read_table(random_bytes)
    assert error.value.code in {"E_FORMAT_UNREADABLE", "E_FORMAT_DUPLICATE_COLUMN"}


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError) as error:
        read_table(tmp_path / "nope.csv")
    assert error.value.code == "E_DATA_FILE_MISSING"


def write_csv(path, text: str, encoding: str = "utf-8", bom: bool = False):
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("encoding", "bom"), [("utf-8", False), ("utf-8", True), ("latin-1", False)], ids=["utf8", "utf8-bom", "latin1"]
)
def test_csv_encodings(tmp_path, encoding, bom):
    path = write_csv(tmp_path / "d.csv", "name,label\nJosé Müller,1\nZoë,0\n", encoding, bom)
    frame = read_table(path)
    assert list(frame.columns) == ["name", "label"]  # no BOM glued to the first header
    assert frame["name"].tolist() == ["José Müller", "Zoë"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiter_is_sniffed(tmp_path, delimiter):
    rows = [["a", "b", "label"], ["1.5", "2", "0"], ["3.25", "4", "1"]]
    path = write_csv(tmp_path / "d.csv", "\n".join(delimiter.join(r) for r in rows) + "\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "label"] and frame["a"].tolist() == [1.5, 3.25]


def test_decimal_commas_with_semicolons_stay_intact(tmp_path):
    path = write_csv(tmp_path / "d.csv", "a;label\n1,5;0\n2,5;1\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "label"] and frame["a"].tolist() == ["1,5", "2,5"]


def test_ragged_rows_are_refused_without_quoting_the_row(tmp_path):
    path = write_csv(tmp_path / "d.csv", "a,b\n1,2\n3,alice@example.com,5\n")
    with pytest.raises(DataFileError) as error:
        read_table(path)
    assert error.value.code == "E_FORMAT_UNREADABLE" and "alice" not in error.value.message


def test_duplicated_header_is_refused_not_silently_dropped(tmp_path):
    path = write_csv(tmp_path / "d.csv", "a,a,label\n1,2,0\n")
    with pytest.raises(DataFileError) as error:
        read_table(path)
    assert error.value.code == "E_FORMAT_DUPLICATE_COLUMN"


def test_empty_and_nul_files(tmp_path):
    with pytest.raises(DataFileError) as error:
        read_table(write_csv(tmp_path / "e.csv", ""))
    assert error.value.code == "E_FORMAT_EMPTY"
    nul = tmp_path / "n.csv"
    nul.write_bytes(b"a,b\n1,\x002\n")
    with pytest.raises(DataFileError) as error:
        read_table(nul)
    assert error.value.code == "E_FORMAT_BINARY"
