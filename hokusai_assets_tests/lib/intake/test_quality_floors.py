"""Each quality part has its own floor: one broken part rejects a file however good the others are."""

import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.lib.intake.quality import QualityFloors
from hokusai_assets.lib.intake.validate import IntakePolicy, IntakeReference, run_intake
from hokusai_assets.lib.samples.mock_task import feature_names, generate_rows
from hokusai_assets.lib.task import TaskSchema

KEY = PiiKey.from_secret(bytes(range(32)))
FEATURES = feature_names()
SCHEMA = TaskSchema("classification", "label", "int", tuple((name, "float") for name in FEATURES))


@pytest.fixture(scope="module")
def tables():
    # Positive features (a price, a weight): a sign flip lands outside the baseline's range.
    rows = generate_rows("classification", 1500, seed=4)
    rows[FEATURES] = (rows[FEATURES] + 10.0).round(4)
    baseline, benchmark, contribution = rows.iloc[:100], rows.iloc[100:700], rows.iloc[700:].reset_index(drop=True)
    return baseline, contribution, IntakeReference(baseline.reset_index(drop=True), benchmark.reset_index(drop=True))


def intake(frame, reference, policy=IntakePolicy()):
    return run_intake(frame.to_csv(index=False).encode(), "csv", "c.csv", SCHEMA, policy, KEY, reference)


@pytest.mark.parametrize("mistake", ["times_100", "negated"])
def test_values_outside_the_baseline_range_reject_the_file_naming_in_range(tables, mistake):
    _, contribution, reference = tables
    rows = contribution.iloc[:400].copy()
    rows[FEATURES] = rows[FEATURES] * (100.0 if mistake == "times_100" else -1.0)
    result = intake(rows, reference)
    check = result.checks["quality_above_minimum"]
    assert not result.accepted and result.first_failure.name == "quality_above_minimum"
    assert check.metadata["code"] == "E_INTAKE_LOW_QUALITY" and check.metadata["below_floor"] == ["in_range"]
    # The other parts are perfect and carry the mean over intake.min_quality: only the floor rejects.
    parts = result.report["quality"]["parts"]
    assert parts["completeness"] == 1.0 and parts["uniqueness"] == 1.0 and parts["label_balance"] > 0.99
    assert parts["in_range"] == 0.0 and result.report["quality"]["score"] >= IntakePolicy().min_quality
    assert "in_range 0.00 is below its floor 0.90 (intake.quality_floors.in_range)" in check.description
    assert "400 row(s) have a number outside the baseline's range widened by 50% (intake.range_margin)" in check.description
    assert "check the units and signs" in check.description and "intake.min_quality" not in check.description
    # Per feature, how many values are out of range: names and counts, never a value.
    assert result.report["quality"]["out_of_range"] == {name: 400 for name in FEATURES}
    assert check.metadata["out_of_range"] == {name: 400 for name in FEATURES}
    # Without the floor the same file would pass on the mean alone (what happened before floors).
    unfloored = intake(rows, reference, IntakePolicy(quality_floors=QualityFloors(in_range=0.0)))
    assert unfloored.accepted


def test_out_of_range_counts_name_only_the_features_that_are_out(tables):
    _, contribution, reference = tables
    rows = contribution.iloc[:400].copy()
    rows.loc[:49, "f03"] = rows.loc[:49, "f03"] * 100.0
    result = intake(rows, reference)
    assert not result.accepted and result.report["quality"]["out_of_range"] == {"f03": 50}
    assert result.report["quality"]["parts"]["in_range"] == pytest.approx(350 / 400)
    assert "in f03 (50)" in result.checks["quality_above_minimum"].description


def test_the_range_is_the_baselines_widened_by_the_margin(tables):
    baseline, contribution, reference = tables
    low, high = baseline["f01"].min(), baseline["f01"].max()
    rows = contribution.iloc[:100].copy()
    rows.loc[:19, "f01"] = round(high + 0.4 * (high - low), 4)  # 40% of the range above the baseline's maximum
    wide = intake(rows, reference, IntakePolicy(range_margin=0.5))
    narrow = intake(rows, reference, IntakePolicy(range_margin=0.3))
    assert wide.report["quality"]["out_of_range"] == {} and wide.accepted
    assert narrow.report["quality"]["out_of_range"] == {"f01": 20} and not narrow.accepted
    assert narrow.report["quality"]["range_margin"] == 0.3


def test_repeated_rows_reject_the_file_naming_uniqueness(tables):
    _, contribution, reference = tables
    repeated = pd.concat([contribution.iloc[:100]] * 3, ignore_index=True)
    result = intake(repeated, reference)
    check = result.checks["quality_above_minimum"]
    assert not result.accepted and check.metadata["below_floor"] == ["uniqueness"]
    assert "uniqueness 0.33 is below its floor 0.50 (intake.quality_floors.uniqueness)" in check.description
    assert "remove the repeated rows" in check.description


def test_one_class_only_rejects_the_file_naming_label_balance(tables):
    _, contribution, reference = tables
    result = intake(contribution.iloc[:300].assign(label=1), reference)
    check = result.checks["quality_above_minimum"]
    assert not result.accepted and check.metadata["below_floor"] == ["label_balance"]
    assert "(intake.quality_floors.label_balance); include rows of the other classes" in check.description
    # 0.75 on the mean: a task that wants one-class files lowers the floor.
    relaxed = IntakePolicy(quality_floors=QualityFloors(label_balance=0.0))
    assert intake(contribution.iloc[:300].assign(label=1), reference, relaxed).accepted


def test_a_clean_file_passes_every_floor(tables):
    _, contribution, reference = tables
    result = intake(contribution, reference)
    assert result.accepted, result.first_failure
    assert "below_floor" not in result.checks["quality_above_minimum"].metadata


@pytest.mark.parametrize(
    "constant, inside, outside",
    [(10.0, [10.0, 5.5, 14.9], [15.5, 1000.0, -10.0]), (0.0, [0.0, 0.4, -0.5], [1.0, -0.6, 7.0])],
    ids=["constant_10", "constant_0"],
)
def test_a_constant_feature_is_widened_as_if_its_range_were_its_value(tables, constant, inside, outside):
    # At margin 0.5: a constant 10 accepts 5 to 15 (10 x 0.5 each side), a constant 0 accepts -0.5 to 0.5
    # (at least 1 x 0.5); a value 100 times too large or negated is still out.
    baseline, contribution, reference = tables
    flat = IntakeReference(baseline.assign(f01=constant).reset_index(drop=True), reference.benchmark)
    rows = contribution.iloc[:300].copy()
    rows.loc[:5, "f01"] = inside * 2
    rows.loc[6:8, "f01"] = outside
    rows.loc[9:, "f01"] = constant
    result = intake(rows, flat)
    assert result.report["quality"]["out_of_range"] == {"f01": 3} and result.accepted
    assert result.report["quality"]["range_not_checked"] == []


def test_a_feature_without_a_baseline_value_is_not_range_checked(tables):
    baseline, contribution, reference = tables
    schema = TaskSchema("classification", "label", "int", SCHEMA.features, imputation=(("f02", "median"),))
    empty = IntakeReference(baseline.assign(f02=np.nan).reset_index(drop=True), reference.benchmark)
    result = run_intake(contribution.to_csv(index=False).encode(), "csv", "c.csv", schema, IntakePolicy(), KEY, empty)
    assert result.accepted, result.first_failure
    quality = result.report["quality"]
    assert quality["range_not_checked"] == ["f02"] and quality["out_of_range"] == {}
    assert quality["parts"]["in_range"] == 1.0
    assert result.checks["quality_above_minimum"].metadata["range_not_checked"] == ["f02"]
    # The other features are still checked.
    wrong = contribution.iloc[:200].assign(f03=contribution["f03"].iloc[:200] * 100.0)
    checked = run_intake(wrong.to_csv(index=False).encode(), "csv", "c.csv", schema, IntakePolicy(), KEY, empty)
    assert checked.report["quality"]["out_of_range"] == {"f03": 200} and not checked.accepted
