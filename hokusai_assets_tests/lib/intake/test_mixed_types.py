"""Intake of category and text features, and of numbers with a declared imputation."""

import json

import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.commitments.rows import iter_canonical_rows
from hokusai_assets.lib.errors import SchemaError
from hokusai_assets.lib.feature_values import category_value
from hokusai_assets.lib.intake.conform import conform
from hokusai_assets.lib.intake.formats import parse_table
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.lib.intake.pii.scanner import find_cleartext_pii
from hokusai_assets.lib.intake.validate import (
    NO_BENCHMARK_LEAKAGE,
    IntakePolicy,
    IntakeReference,
    empty_rows,
    protect_reference,
    run_intake,
)
from hokusai_assets.lib.monitoring.drift_check import drift_columns
from hokusai_assets.lib.samples.mixed_task import FEATURES, IMPUTATION, LABEL, generate_rows
from hokusai_assets.lib.task import TaskSchema, canonical_order

KEY = PiiKey.from_secret(bytes(range(32)))
SCHEMA = TaskSchema("classification", LABEL, "int", tuple(FEATURES.items()), imputation=tuple(IMPUTATION.items()))
CSV = (
    "age,visits,monthly_spend,country,comment,churned\n"
    "30.5,7,10.0,DE,Great service.,0\n"
    ",,12.5,7,,1\n"
    "41,3,9.0,  FR ,write to jane@example.org,0\n"
)


def conformed(text: str = CSV, schema: TaskSchema = SCHEMA, **kwargs):
    return conform(parse_table(text.encode(), "csv", "c.csv"), schema, source="c.csv", **kwargs)


def test_category_and_text_hold_strings_and_missing_is_null():
    frame, report = conformed()
    assert frame["country"].tolist() == ["DE", "7", "FR"]  # a number is its text; spaces stripped
    assert frame["comment"].tolist() == ["Great service.", None, "write to jane@example.org"]
    assert frame["country"].dtype == object and frame["comment"].dtype == object
    # Imputed numbers may be missing: kept missing (int as the nullable Int64).
    assert frame["visits"].dtype == "Int64" and frame["visits"].isna().tolist() == [False, True, False]
    assert np.isnan(frame["age"][1]) and report.dropped_missing_rows == 0
    rows = [json.loads(r) for r in iter_canonical_rows(frame, SCHEMA.columns)]
    assert rows[1] == {"age": None, "visits": None, "monthly_spend": 12.5, "country": "7", "comment": None, "churned": 1}


@pytest.mark.parametrize(
    "value, text",
    [(7, "7"), (7.0, "7"), (2.5, "2.5"), (True, "true"), ("  x ", "x"), ("", None), (None, None), (np.nan, None)],
)
def test_category_text_of_a_cell(value, text):
    assert category_value(value) == text


def test_a_missing_category_is_null_also_in_an_object_column_holding_nan():
    frame = pd.DataFrame({"age": [1.0, 2.0], "visits": [1, 2], "monthly_spend": [1.0, 2.0],
                          "country": pd.Series(["DE", np.nan], dtype=object), "comment": [np.nan, "x"], LABEL: [0, 1]})
    out, _ = conform(frame, SCHEMA, source="t")
    assert out["country"].tolist() == ["DE", None] and out["comment"].tolist() == [None, "x"]


def test_a_number_without_imputation_follows_nan_policy():
    text = CSV.replace(",,12.5,", ",,,")  # monthly_spend has no imputation
    with pytest.raises(SchemaError) as error:
        conformed(text)
    assert error.value.code == "E_SCHEMA_MISSING_VALUE" and "monthly_spend" in error.value.message
    assert "task.imputation" in error.value.message
    frame, report = conformed(text, nan_policy="drop_rows")
    assert len(frame) == 2 and report.dropped_missing_rows == 1


def test_an_imputed_number_still_refuses_infinity_and_the_label_may_not_be_missing():
    with pytest.raises(SchemaError, match="infinite"):
        conformed(CSV.replace("30.5,7", "inf,7"))
    with pytest.raises(SchemaError) as error:
        conformed(CSV.replace("Great service.,0", "Great service.,"))
    assert "'churned'" in error.value.message


def test_empty_rows_have_the_mixed_dtypes():
    empty = empty_rows(SCHEMA)
    assert empty["country"].dtype == object and empty["visits"].dtype == "Int64" and empty["age"].dtype == "float64"


def test_canonical_order_is_total_with_nulls_and_strings():
    frame, _ = conformed()
    frame = pd.concat([frame, frame.assign(country=[None, "A", "B"])], ignore_index=True)
    once = canonical_order(frame, SCHEMA)
    assert canonical_order(frame.iloc[::-1], SCHEMA).equals(once)
    assert canonical_order(frame.sample(frac=1, random_state=3), SCHEMA).equals(once)


@pytest.fixture(scope="module")
def tables():
    rows = generate_rows(700, seed=5)
    rows.loc[rows.index % 9 == 0, "country"] = None
    rows.loc[rows.index % 7 == 0, "age"] = np.nan
    baseline, benchmark = rows.iloc[:100], rows.iloc[100:400].reset_index(drop=True)
    contribution = rows.iloc[400:].reset_index(drop=True).copy()
    reference = IntakeReference(
        canonical_order(protect_reference(conform(baseline, SCHEMA, source="b")[0], SCHEMA, KEY), SCHEMA),
        canonical_order(protect_reference(conform(benchmark, SCHEMA, source="m")[0], SCHEMA, KEY), SCHEMA),
    )
    return benchmark, contribution, reference


def intake(frame, reference):
    return run_intake(frame.to_csv(index=False).encode(), "csv", "c.csv", SCHEMA, IntakePolicy(), KEY, reference)


def test_a_mixed_contribution_passes_with_pii_in_its_comments_pseudonymised(tables):
    _, contribution, reference = tables
    contribution = contribution.copy()
    contribution.loc[3, "comment"] = "Mail me at jane.doe@example.org please"
    result = intake(contribution, reference)
    assert result.accepted, result.first_failure
    comments = result.frame["comment"].tolist()
    assert not any("jane.doe@example.org" in (c or "") for c in comments)
    assert any("<email:" in (c or "") for c in comments)
    assert find_cleartext_pii(result.frame) == {}
    assert result.frame["country"].isna().any() and result.frame["age"].isna().any()
    assert result.report["quality"]["parts"]["in_range"] == 1.0  # missing numbers are not out of range


def test_duplicates_and_leakage_see_rows_with_nulls(tables):
    benchmark, contribution, reference = tables
    leaked = benchmark[benchmark["country"].isna() & benchmark["age"].isna()].head(1)
    assert len(leaked) == 1
    doubled = pd.concat([contribution, contribution.head(5), leaked], ignore_index=True)
    result = intake(doubled, reference)
    assert result.report["duplicates"]["within_file"] == 5
    assert result.checks[NO_BENCHMARK_LEAKAGE].metadata["leaked_rows"] == 1


def test_drift_compares_categories_as_categorical_and_leaves_text_out(tables):
    _, contribution, reference = tables
    compared, categorical = drift_columns(SCHEMA, reference.baseline, contribution)
    assert compared == ["age", "visits", "monthly_spend", "country", LABEL] and categorical == ["country"]
    emptied = contribution.assign(country=None)
    assert "country" not in drift_columns(SCHEMA, reference.baseline, emptied)[0]


def test_a_text_column_the_parser_read_as_numbers_is_scanned_too(tables):
    _, contribution, reference = tables
    numeric_comments = contribution.assign(comment=[4111111111111111 + 0 * i for i in range(len(contribution))])
    numeric_comments.loc[1:, "comment"] = range(1, len(contribution))  # plain numbers elsewhere
    result = intake(numeric_comments, reference)
    assert result.accepted, result.first_failure
    assert result.frame["comment"].str.startswith("<payment_card:").sum() == 1
    assert result.report["pii"]["counts"]["comment"] == {"payment_card": 1}
    assert "comment" in result.report["pii"]["scanned_columns"]


def test_column_names_holding_pii_are_never_shown_in_clear():
    from hokusai_assets.lib.errors import DataFileError
    from hokusai_assets.lib.intake.formats import parse_table

    duplicated = b"x,jane.roe@example.net,jane.roe@example.net\n1,2,3\n"
    with pytest.raises(DataFileError) as error:
        parse_table(duplicated, "csv", "dup.csv")
    assert "jane.roe" not in error.value.message and "'<email>'" in error.value.message
