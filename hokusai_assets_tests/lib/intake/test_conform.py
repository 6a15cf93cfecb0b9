import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.errors import HokusaiError, SchemaError
from hokusai_assets.lib.intake.conform import check_labels, conform
from hokusai_assets.lib.task import TaskSchema

SCHEMA = TaskSchema(
    task_type="classification",
    label="y",
    label_type="int",
    features=(("age", "int"), ("score", "float"), ("member", "bool")),
)


def frame(**overrides):
    base = {"age": [30, 41, 52], "score": [0.5, 1.25, 2.0], "member": [True, False, True], "y": [0, 1, 0]}
    base.update(overrides)
    return pd.DataFrame(base)


def test_conform_keeps_task_columns_in_schema_order_and_reports_extras():
    raw = frame(notes=["a", "b", "c"])[["notes", "y", "score", "member", "age"]]
    out, report = conform(raw, SCHEMA, source="t")
    assert list(out.columns) == ["age", "score", "member", "y"]
    assert out["age"].dtype == np.int64 and out["score"].dtype == np.float64 and out["member"].dtype == bool
    assert report.extra_columns == ["notes"] and report.output_rows == 3


def test_missing_label_column_names_it():
    with pytest.raises(SchemaError) as error:
        conform(frame().drop(columns=["y"]), SCHEMA, source="contribution.csv")
    assert error.value.code == "E_SCHEMA_MISSING_COLUMN"
    assert "'y'" in error.value.message and "contribution.csv" in error.value.message


def test_integral_floats_become_ints_but_fractions_are_never_truncated():
    out, _ = conform(frame(age=[30.0, 41.0, 52.0]), SCHEMA, source="t")
    assert out["age"].tolist() == [30, 41, 52]
    with pytest.raises(SchemaError) as error:
        conform(frame(age=[30.0, 41.5, 52.0]), SCHEMA, source="t")
    assert error.value.code == "E_SCHEMA_TYPE" and "rows 2" in error.value.message


def test_numeric_strings_parse_and_garbage_is_an_error_naming_rows():
    out, _ = conform(frame(score=["0.5", "1.25", "2"]), SCHEMA, source="t")
    assert out["score"].tolist() == [0.5, 1.25, 2.0]
    with pytest.raises(SchemaError, match="rows 3"):
        conform(frame(score=["0.5", "1.25", "high"]), SCHEMA, source="t")


def test_bool_text_forms():
    out, _ = conform(frame(member=["true", "0", "FALSE"]), SCHEMA, source="t")
    assert out["member"].tolist() == [True, False, False]
    with pytest.raises(SchemaError):
        conform(frame(member=["yes", "no", "true"]), SCHEMA, source="t")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_policy_reject_and_drop(bad):
    raw = frame(score=[0.5, bad, 2.0])
    with pytest.raises(SchemaError) as error:
        conform(raw, SCHEMA, source="t")
    assert error.value.code == "E_SCHEMA_MISSING_VALUE" and "drop_rows" in error.value.message
    out, report = conform(raw, SCHEMA, source="t", nan_policy="drop_rows")
    assert len(out) == 2 and report.dropped_missing_rows == 1
    assert np.isfinite(out["score"]).all()


def test_duplicate_column_names_rejected():
    raw = pd.DataFrame([[1, 2.0, True, 0, 5]], columns=["age", "score", "member", "y", "age"])
    with pytest.raises(HokusaiError) as error:
        conform(raw, SCHEMA, source="t")
    # The same rule, and code, as for a file whose header repeats a name.
    assert error.value.code == "E_FORMAT_DUPLICATE_COLUMN" and "'age'" in error.value.message


def test_unknown_labels_are_named():
    out, _ = conform(frame(y=[0, 1, 7]), SCHEMA, source="t")
    with pytest.raises(SchemaError) as error:
        check_labels(out, SCHEMA, [0, 1], source="t")
    assert error.value.code == "E_SCHEMA_UNKNOWN_LABEL" and "7" in error.value.message


def test_id_column_must_be_unique():
    schema = TaskSchema("classification", "y", "int", (("age", "int"),), id_column="id")
    raw = pd.DataFrame({"id": ["a", "b", "a"], "age": [1, 2, 3], "y": [0, 1, 0]})
    with pytest.raises(SchemaError) as error:
        conform(raw, schema, source="t")
    assert error.value.code == "E_SCHEMA_DUPLICATE_ID"
