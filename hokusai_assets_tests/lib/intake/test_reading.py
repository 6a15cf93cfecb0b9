import pandas as pd
import pytest

from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.intake.reading import read_conformed
from hokusai_assets.lib.task import TaskSchema

SCHEMA = TaskSchema("classification", "y", "int", (("x", "float"),))


@pytest.fixture
def small_csv(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"x": [0.5, 1.5, 2.5], "y": [0, 1, 0]}).to_csv(path, index=False)
    return path


def test_limits_on_bytes_and_rows(small_csv):
    frame, _ = read_conformed(small_csv, SCHEMA, source="d.csv", max_bytes=1000, max_rows=3)
    assert len(frame) == 3
    with pytest.raises(DataFileError) as error:
        read_conformed(small_csv, SCHEMA, source="d.csv", max_bytes=5)
    assert error.value.code == "E_DATA_TOO_LARGE" and "intake.max_file_bytes" in error.value.message
    with pytest.raises(DataFileError) as error:
        read_conformed(small_csv, SCHEMA, source="d.csv", max_rows=2)
    assert error.value.code == "E_DATA_TOO_MANY_ROWS"


def test_header_only_file_has_no_usable_rows(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("x,y\n")
    with pytest.raises(DataFileError) as error:
        read_conformed(path, SCHEMA, source="h.csv")
    assert error.value.code == "E_DATA_EMPTY"
