import json

import pandas as pd
import pytest

from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.formats import detect_format, read_table

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
    assert error.value.code == "E_FORMAT_UNREADABLE"


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError) as error:
        read_table(tmp_path / "nope.csv")
    assert error.value.code == "E_DATA_FILE_MISSING"
