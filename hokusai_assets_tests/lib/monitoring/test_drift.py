"""Drift of a contribution against the baseline (hokusai_assets.lib.monitoring.drift, Evidently)."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.monitoring.drift import ColumnDrift, DriftResult, detect_drift
from hokusai_assets.lib.samples.mock_task import feature_names, generate_rows

SHIFTED = ("f01", "f02", "f04", "f07", "f08", "f10", "f12")  # 7 of 13 compared columns
COLUMNS = [*feature_names(), "label"]


@pytest.fixture(scope="module")
def draw() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One draw of the mock task split in two; the second half also shifted by +2 std."""
    rows = generate_rows("classification", 1800, seed=0)
    reference, current = rows.iloc[:900], rows.iloc[900:]
    shifted = current.copy()
    for column in SHIFTED:
        shifted[column] = shifted[column] + 2 * reference[column].std()
    return reference, current, shifted


@pytest.fixture(scope="module")
def shifted_result(draw) -> DriftResult:
    reference, _, shifted = draw
    return detect_drift(reference, shifted, COLUMNS, label="label", task_type="classification")


@pytest.fixture(scope="module")
def unshifted_result(draw) -> DriftResult:
    reference, current, _ = draw
    return detect_drift(reference, current, COLUMNS, label="label", task_type="classification")


def test_importing_the_module_does_not_import_evidently():
    probe = (
        "import sys, hokusai_assets.lib.monitoring.drift\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'evidently'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_shifted_contribution_drifts_in_the_shifted_columns(shifted_result):
    by_name = {c.column: c for c in shifted_result.columns}
    assert [c.column for c in shifted_result.columns] == COLUMNS  # caller's order kept
    assert set(SHIFTED) <= set(shifted_result.drifted_columns)
    for column in SHIFTED:
        c = by_name[column]
        # 900 reference rows: Evidently's default for numerical columns is the K-S test.
        assert c.drifted and c.method == "K-S p_value" and c.threshold == 0.05
        assert c.score < 1e-10
    assert shifted_result.drifted_share >= len(SHIFTED) / len(COLUMNS)
    assert shifted_result.dataset_drift is True


def test_unshifted_contribution_from_the_same_draw_does_not_drift(unshifted_result):
    assert unshifted_result.dataset_drift is False
    assert unshifted_result.drifted_share < 0.25  # at most chance-level false alarms
    by_name = {c.column: c for c in unshifted_result.columns}
    assert all(by_name[column].score > 1e-3 for column in SHIFTED)


def test_classification_label_is_tested_as_categorical(shifted_result):
    label = next(c for c in shifted_result.columns if c.column == "label")
    assert label.method == "chi-square p_value"
    assert not label.drifted


def test_digest_is_stable_and_follows_the_numbers(draw, shifted_result, unshifted_result):
    reference, _, shifted = draw
    again = detect_drift(reference, shifted, COLUMNS, label="label", task_type="classification")
    assert again.digest == shifted_result.digest
    assert again.as_dict() == shifted_result.as_dict()
    assert again.columns == shifted_result.columns
    assert unshifted_result.digest != shifted_result.digest
    # The digest covers the canonical summary (numbers), not the HTML.
    expected = hashlib.sha256(canonical_json(shifted_result.summary())).hexdigest()
    assert shifted_result.digest == "sha256:" + expected


def test_as_dict_is_json_ready_sorted_and_has_no_html(shifted_result):
    summary = shifted_result.as_dict()
    assert set(summary) == {"columns", "drifted_share", "dataset_drift", "digest"}
    names = [c["column"] for c in summary["columns"]]
    assert names == sorted(COLUMNS)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_html_is_a_full_html_document(shifted_result):
    html = shifted_result.html
    assert isinstance(html, bytes) and len(html) > 10_000
    text = html.decode("utf-8")
    assert text.lstrip().lower().startswith("<!doctype html")
    assert text.rstrip().lower().endswith("</html>")
    assert "f01" in text


def test_numbers_match_the_stock_data_drift_preset():
    # detect_drift skips the preset's per-column ValueDrift metrics for speed; check that
    # what it reports is what the stock preset reports through the public snapshot.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    rs = np.random.RandomState(3)
    reference = pd.DataFrame({"x": rs.normal(size=300), "c": rs.choice(list("abc"), 300)})
    current = pd.DataFrame(
        {"x": rs.normal(0.5, 1, 200), "c": rs.choice(list("abc"), 200, p=[0.5, 0.3, 0.2])}
    )
    ours = detect_drift(reference, current, ["x", "c"])

    definition = DataDefinition(numerical_columns=["x"], categorical_columns=["c"])
    snapshot = Report([DataDriftPreset(columns=["x", "c"])], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    stock = snapshot.dict()
    drifts = {
        m["config"]["column"]: m for m in stock["metrics"] if "ValueDrift" in m["config"]["type"]
    }
    verdicts = {
        t["metric_config"]["params"]["column"]: t["status"] == "FAIL"
        for t in stock["tests"]
        if t["id"] == "drift"
    }
    count = next(m for m in stock["metrics"] if "DriftedColumnsCount" in m["config"]["type"])
    for c in ours.columns:
        assert c.score == drifts[c.column]["value"]
        assert c.method == drifts[c.column]["config"]["method"]
        assert c.threshold == drifts[c.column]["config"]["threshold"]
        assert c.drifted == verdicts[c.column]
    assert ours.drifted_share == count["value"]["share"]
    assert ours.drifted_columns  # the example does drift somewhere


def test_above_1000_reference_rows_distances_are_used_and_index_does_not_matter():
    rs = np.random.RandomState(1)
    reference = pd.DataFrame({"x": rs.normal(size=1200), "c": rs.choice(list("abc"), 1200)})
    current = pd.DataFrame(
        {"x": rs.normal(size=400) + 1, "c": rs.choice(list("abc"), 400, p=[0.6, 0.2, 0.2])}
    )
    result = detect_drift(reference, current, ["x", "c"], share_threshold=1.0)
    x, c = result.columns
    assert x.method == "Wasserstein distance (normed)" and x.drifted and x.score >= x.threshold
    assert c.method == "Jensen-Shannon distance" and c.drifted
    assert result.drifted_share == 1.0 and result.dataset_drift
    relabelled = current.set_axis(range(5000, 5400))  # same rows, other index labels
    again = detect_drift(reference, relabelled, ["x", "c"], share_threshold=1.0)
    assert again.digest == result.digest


def test_regression_label_is_tested_as_numerical():
    rows = generate_rows("regression", 400, seed=0)
    result = detect_drift(
        rows.iloc[:200], rows.iloc[200:], ["f01", "label"], label="label", task_type="regression"
    )
    assert {c.column: c.method for c in result.columns}["label"] == "K-S p_value"


def test_nonfinite_scores_are_null_in_the_summary():
    column = ColumnDrift("x", False, "K-S p_value", math.nan, 0.05)
    assert column.as_dict()["score"] is None


@pytest.mark.parametrize(
    ("reference_columns", "current_columns", "missing", "where"),
    [
        (["a", "b"], ["a"], "b", "current"),
        (["a"], ["a", "b"], "b", "reference"),
    ],
)
def test_a_missing_column_is_named(reference_columns, current_columns, missing, where):
    reference = pd.DataFrame({c: [1.0, 2.0, 3.0] for c in reference_columns})
    current = pd.DataFrame({c: [1.0, 2.0, 3.0] for c in current_columns})
    with pytest.raises(HokusaiError) as info:
        detect_drift(reference, current, ["a", "b"])
    assert info.value.code == "E_DRIFT_COLUMN"
    assert repr(missing) in info.value.message and where in info.value.message


def test_empty_inputs_are_refused_clearly():
    full = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    empty = full.iloc[:0]
    for reference, current, name in ((empty, full, "reference"), (full, empty, "current")):
        with pytest.raises(HokusaiError) as info:
            detect_drift(reference, current, ["a"])
        assert info.value.code == "E_DRIFT_EMPTY" and name in info.value.message
    with pytest.raises(HokusaiError) as info:
        detect_drift(full, full, [])
    assert info.value.code == "E_DRIFT_EMPTY"
    with pytest.raises(HokusaiError) as info:
        detect_drift(full, full.assign(a=np.nan), ["a"])
    assert info.value.code == "E_DRIFT_EMPTY" and "'a'" in info.value.message


@pytest.mark.parametrize(
    "kwargs",
    [{"share_threshold": 0.0}, {"share_threshold": 1.5}, {"task_type": "ranking"},
     {"task_type": "classification", "label": "zzz"}],
)
def test_bad_arguments_are_refused(kwargs):
    full = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    with pytest.raises(HokusaiError) as info:
        detect_drift(full, full, ["a"], **kwargs)
    assert info.value.code == "E_DRIFT_CONFIG"


def test_columns_evidently_cannot_compare_are_refused():
    reference = pd.DataFrame({"t": pd.date_range("2020-01-01", periods=5), "x": np.arange(5.0)})
    with pytest.raises(HokusaiError) as info:
        detect_drift(reference, reference, ["x", "t"])
    assert info.value.code == "E_DRIFT_COLUMN_TYPE" and "'t'" in info.value.message
    current = reference.assign(x=["a", "b", "c", "d", "e"])  # numeric in the baseline only
    with pytest.raises(HokusaiError) as info:
        detect_drift(reference, current, ["x"])
    assert info.value.code == "E_DRIFT_COLUMN_TYPE" and "'x'" in info.value.message


# ------------------------------------------------------------------ the drift check


def _result(drifted: list[bool]):
    from hokusai_assets.lib.monitoring.drift import ColumnDrift, DriftResult

    columns = tuple(ColumnDrift(f"c{i}", d, "K-S p_value", 0.01 if d else 0.5, 0.05) for i, d in enumerate(drifted))
    return DriftResult(columns, sum(drifted) / len(drifted), False, b"", "sha256:" + "0" * 64)


def test_the_drift_check_passes_below_the_threshold_and_warns_at_it():
    from hokusai_assets.lib.monitoring.drift_check import drift_check

    below = drift_check(_result([True, False, False, False]), 0.5)
    assert below.passed and not below.blocking and below.name == "drift_below_threshold"
    assert below.description == "25% of columns drifted (c0); threshold 50%"
    at = drift_check(_result([True, True, False, False]), 0.5)
    assert not at.passed and "c0, c1" in at.description and at.metadata == {"drifted_share": 0.5}
    assert drift_check(_result([False, False]), 0.5).description.startswith("0% of columns drifted (none)")


def test_no_report_means_a_passing_check_that_says_why():
    from hokusai_assets.lib.monitoring.drift_check import drift_check, drift_skip_reason

    assert drift_skip_reason(True, 10) is None
    assert drift_skip_reason(False, 10) == "monitoring.drift_report is off"
    assert drift_skip_reason(True, 0) == "no validated rows"
    skipped = drift_check(None, 0.5, "no validated rows")
    assert skipped.passed and skipped.description == "skipped: no validated rows"
