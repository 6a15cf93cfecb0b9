"""Near copies of benchmark rows are leakage like exact copies: removed, counted, and above
intake.max_leakage_share the file is rejected."""

import json

import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.intake import leakage
from hokusai_assets.lib.intake.leakage import NearCopyRule, find_benchmark_copies
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.lib.intake.validate import IntakePolicy, IntakeReference, run_intake
from hokusai_assets.lib.samples.mock_task import feature_names, generate_rows
from hokusai_assets.lib.task import TaskSchema

KEY = PiiKey.from_secret(bytes(range(32)))
FEATURES = feature_names()
SCHEMA = TaskSchema("classification", "label", "int", tuple((name, "float") for name in FEATURES))


@pytest.fixture(scope="module")
def tables():
    rows = generate_rows("classification", 1500, seed=4)
    baseline, benchmark, contribution = (
        rows.iloc[:100].reset_index(drop=True),
        rows.iloc[100:700].reset_index(drop=True),
        rows.iloc[700:].reset_index(drop=True),
    )
    return benchmark, contribution, IntakeReference(baseline, benchmark)


def intake(frame, reference, policy=IntakePolicy(), schema=SCHEMA):
    return run_intake(frame.to_csv(index=False).encode(), "csv", "c.csv", schema, policy, KEY, reference)


def nudged(benchmark: pd.DataFrame, rows: slice, amount: float = 1.0) -> pd.DataFrame:
    """Benchmark rows with one feature each (f01, f02, ... in turn) moved by ``amount``."""
    copies = benchmark.iloc[rows].reset_index(drop=True).copy()
    for i in range(len(copies)):
        feature = FEATURES[i % len(FEATURES)]
        copies.loc[i, feature] = round(copies.loc[i, feature] + amount, 4)
    return copies


def test_a_benchmark_row_nudged_in_one_feature_is_a_near_copy_and_removed(tables):
    benchmark, contribution, reference = tables
    frame = pd.concat([contribution.iloc[:200], nudged(benchmark, slice(0, 5))], ignore_index=True)
    result = intake(frame, reference)
    leak = result.report["leakage"]
    assert result.accepted and len(result.frame) == 200
    assert (leak["rows"], leak["exact_copies"], leak["near_copies"]) == (5, 0, 5)
    assert leak["near_copy"]["differing_features"] == {"1": 5}
    # One unit in a feature whose baseline standard deviation is 1 to 2: that far, in standardised units.
    assert 0.4 < leak["near_copy"]["distance"]["min"] <= leak["near_copy"]["distance"]["max"] < 1.2
    check = result.checks["no_benchmark_leakage"]
    assert check.passed and "5 row(s) (2.4%) copy benchmark features and were removed: 0 exact and 5 near copies" in (
        check.description
    )
    assert check.metadata["near_copies"] == 5


def test_too_many_near_copies_reject_the_file(tables):
    benchmark, contribution, reference = tables
    frame = pd.concat([contribution.iloc[:100], nudged(benchmark, slice(0, 40)), benchmark.iloc[40:50]])
    result = intake(frame, reference)
    check = result.first_failure
    assert not result.accepted and check.name == "no_benchmark_leakage"
    assert check.metadata["code"] == "E_INTAKE_BENCHMARK_LEAKAGE"
    assert (check.metadata["exact_copies"], check.metadata["near_copies"]) == (10, 40)
    assert "above the limit of 5.0% (intake.max_leakage_share)" in check.description
    assert "benchmark rows are for evaluation only" in check.description


def test_small_changes_to_every_feature_are_near_copies_by_distance(tables):
    benchmark, contribution, reference = tables
    rs = np.random.RandomState(0)
    jittered = benchmark.iloc[:6].copy()
    jittered[FEATURES] = (jittered[FEATURES] + rs.normal(0, 0.02, (6, len(FEATURES)))).round(4)
    result = intake(pd.concat([contribution.iloc[:200], jittered], ignore_index=True), reference)
    leak = result.report["leakage"]
    assert leak["near_copies"] == 6 and set(leak["near_copy"]["differing_features"]) <= {"11", "12"}
    assert leak["near_copy"]["distance"]["max"] <= 0.25
    assert result.accepted and len(result.frame) == 200


def test_rows_genuinely_far_from_the_benchmark_are_kept(tables):
    benchmark, contribution, reference = tables
    # Two features moved by one unit: two numbers differ, and the row is about one standard deviation away.
    two_apart = nudged(benchmark, slice(0, 20))
    for i in range(20):
        feature = FEATURES[(i + 1) % len(FEATURES)]
        two_apart.loc[i, feature] = round(two_apart.loc[i, feature] + 1.0, 4)
    result = intake(pd.concat([contribution, two_apart], ignore_index=True), reference)
    assert result.accepted and result.report["leakage"]["rows"] == 0
    assert len(result.frame) == len(contribution) + 20


def test_near_copies_are_looked_for_only_with_enough_numeric_features(tables):
    benchmark, contribution, reference = tables
    frame = pd.concat([contribution.iloc[:200], nudged(benchmark, slice(0, 5)), benchmark.iloc[5:7]], ignore_index=True)
    policy = IntakePolicy(near_copy=NearCopyRule(min_numeric_features=13))
    result = intake(frame, reference, policy)
    leak = result.report["leakage"]
    assert leak["near_copy"]["looked_for"] is False and leak["near_copy"]["numeric_features"] == 12
    assert (leak["exact_copies"], leak["near_copies"]) == (2, 0) and len(result.frame) == 205


def test_a_near_copy_matches_category_and_text_features_exactly(tables):
    # A nudged number and an edited string are two edits: not a near copy (one edit alone is; see below).
    benchmark, contribution, _ = tables
    schema = TaskSchema(
        "classification", "label", "int", (*((name, "float") for name in FEATURES), ("colour", "category"), ("note", "text"))
    )
    colours = np.array(["red", "green", "blue"])
    with_strings = [
        t.assign(colour=colours[np.arange(len(t)) % 3], note=[f"note {i % 7}" for i in range(len(t))])
        for t in (benchmark, contribution)
    ]
    benchmark, contribution = with_strings
    reference = IntakeReference(contribution.iloc[:100].reset_index(drop=True), benchmark)
    same = nudged(benchmark, slice(0, 4))
    recoloured = nudged(benchmark, slice(4, 8)).assign(colour="purple")
    renoted = nudged(benchmark, slice(8, 12)).assign(note="another note")
    frame = pd.concat([contribution.iloc[100:400], same, recoloured, renoted], ignore_index=True)
    result = intake(frame, reference, schema=schema)
    assert result.report["leakage"]["near_copies"] == 4 and len(result.frame) == 308


def test_the_report_is_the_same_bytes_for_the_same_rows_in_any_order(tables):
    benchmark, contribution, reference = tables
    rs = np.random.RandomState(1)
    jittered = benchmark.iloc[20:24].copy()
    jittered[FEATURES] = (jittered[FEATURES] + rs.normal(0, 0.02, (4, len(FEATURES)))).round(4)
    frame = pd.concat([contribution.iloc[:300], nudged(benchmark, slice(0, 6)), jittered], ignore_index=True)
    reports = [
        json.dumps(intake(rows, reference).report["leakage"], sort_keys=True)
        for rows in (frame, frame, frame.iloc[::-1], frame.sample(frac=1, random_state=2))
    ]
    assert len(set(reports)) == 1 and json.loads(reports[0])["near_copies"] == 10


def test_chunks_of_rows_and_a_tree_find_what_one_pass_finds(tables, monkeypatch):
    benchmark, contribution, reference = tables
    frame = pd.concat([contribution.iloc[:100], nudged(benchmark, slice(0, 9)), benchmark.iloc[30:33]], ignore_index=True)
    frame = frame.sample(frac=1, random_state=3).reset_index(drop=True)
    whole = find_benchmark_copies(frame, benchmark, reference.baseline, SCHEMA, NearCopyRule())
    monkeypatch.setattr(leakage, "_CHUNK_ROWS", 7)
    chunked = find_benchmark_copies(frame, benchmark, reference.baseline, SCHEMA, NearCopyRule())
    monkeypatch.setattr(leakage, "_BRUTE_FORCE_MAX_ROWS", 10)  # a k-d tree's radius query instead
    by_tree = find_benchmark_copies(frame, benchmark, reference.baseline, SCHEMA, NearCopyRule())
    assert whole.near.sum() == 9 and whole.exact.sum() == 3
    for other in (chunked, by_tree):
        assert (whole.near == other.near).all() and (whole.exact == other.exact).all()
        assert whole.report() == other.report()


def test_missing_numbers_must_be_missing_alike_for_the_distance_rule(tables):
    benchmark, contribution, _ = tables
    schema = TaskSchema("classification", "label", "int", SCHEMA.features, imputation=(("f01", "median"),))
    holes = benchmark.copy()
    holes.loc[:9, "f01"] = np.nan
    reference = IntakeReference(contribution.iloc[:100].reset_index(drop=True), holes)
    rs = np.random.RandomState(4)
    jittered = holes.iloc[:10].copy()
    rest = FEATURES[1:]
    jittered[rest] = (jittered[rest] + rs.normal(0, 0.02, (10, len(rest)))).round(4)
    filled = jittered.iloc[:5].assign(f01=0.5)  # a number where the benchmark row has none
    frame = pd.concat([contribution.iloc[100:400], jittered.iloc[5:], filled], ignore_index=True)
    result = intake(frame, reference, schema=schema)
    assert result.report["leakage"]["near_copies"] == 5 and len(result.frame) == 305


def offset_tables(benchmark_offset: float):
    """8 float features with a spread of 1, the first near 1.7e9 (a timestamp); the benchmark's
    first feature is moved by ``benchmark_offset`` from the baseline's; 300 benchmark rows
    nudged by 0.08 standard deviations in three features (a distance of about 0.14)."""
    features = [f"x{i}" for i in range(8)]
    schema = TaskSchema("classification", "label", "int", tuple((name, "float") for name in features))
    rs = np.random.RandomState(0)

    def table(rows: int, offset: float) -> pd.DataFrame:
        values = rs.normal(0.0, 1.0, (rows, len(features)))
        values[:, 0] += offset
        return pd.DataFrame(values, columns=features).assign(label=rs.randint(0, 2, rows))

    baseline, benchmark = table(200, 1.7e9), table(600, 1.7e9 + benchmark_offset)
    copies = benchmark.iloc[:300].copy()
    copies[["x0", "x3", "x5"]] += 0.08
    return copies.reset_index(drop=True), benchmark, baseline, schema


@pytest.mark.parametrize("benchmark_offset", [0.0, -1.7e9], ids=["offset_everywhere", "benchmark_far_from_baseline"])
def test_near_copies_by_distance_are_found_whatever_the_features_offset(benchmark_offset):
    # Brute force computes |a|² + |b|² − 2a·b: at 1.7e9 that rounds a distance of 0.14 away. Centred
    # on the baseline's mean it is exact enough; a benchmark far from that mean is searched by a tree.
    frame, benchmark, baseline, schema = offset_tables(benchmark_offset)
    copies = find_benchmark_copies(frame, benchmark, baseline, schema, NearCopyRule())
    assert copies.near.sum() == 300 and copies.exact.sum() == 0
    # Reported distances are computed from the differences, whichever search found the row.
    expected = np.sqrt(((0.08 / baseline[["x0", "x3", "x5"]].std(ddof=0)) ** 2).sum())
    assert copies.distance[copies.near] == pytest.approx(np.full(300, expected), rel=1e-5)
    assert copies.report()["near_copy"]["differing_features"] == {"3": 300}


def with_strings(t: pd.DataFrame) -> pd.DataFrame:
    colours = np.array(["red", "green", "blue"])
    return t.assign(colour=colours[np.arange(len(t)) % 3], note=[f"note {i % 7}" for i in range(len(t))])


STRING_FEATURES = (*((name, "float") for name in FEATURES), ("colour", "category"), ("note", "text"))
STRING_SCHEMA = TaskSchema("classification", "label", "int", STRING_FEATURES)


def test_a_benchmark_row_with_one_category_or_text_edited_is_a_near_copy(tables):
    benchmark, contribution = (with_strings(t) for t in tables[:2])
    reference = IntakeReference(contribution.iloc[:100].reset_index(drop=True), benchmark)
    recoloured = benchmark.iloc[0:4].assign(colour="purple")
    renoted = benchmark.iloc[4:8].assign(note="an edited note")
    blanked = benchmark.iloc[8:10].assign(note=None)  # a missing text where the benchmark row has one
    # Two features edited (a category and a number, or a category and a text): kept.
    two_edits = pd.concat(
        [
            nudged(benchmark, slice(10, 13)).assign(colour="purple"),
            benchmark.iloc[13:16].assign(colour="purple", note="an edited note"),
        ]
    )
    frame = pd.concat([contribution.iloc[100:400], recoloured, renoted, blanked, two_edits], ignore_index=True)
    result = intake(frame, reference, schema=STRING_SCHEMA)
    leak = result.report["leakage"]
    assert (leak["exact_copies"], leak["near_copies"]) == (0, 10) and len(result.frame) == 306
    assert leak["near_copy"]["differing_features"] == {"1": 10}
    assert leak["near_copy"]["distance"] == {"min": 0.0, "median": 0.0, "max": 0.0}  # over the numbers: all equal
    shuffled = intake(frame.sample(frac=1, random_state=5), reference, schema=STRING_SCHEMA).report["leakage"]
    assert json.dumps(shuffled, sort_keys=True) == json.dumps(leak, sort_keys=True)


def test_category_and_text_features_do_not_count_toward_min_numeric_features(tables):
    # Three numbers, a category and a text, like the bundled mixed sample: too few numbers, so only
    # exact copies count, however many string features there are.
    columns = ["f01", "f02", "f03", "colour", "note", "label"]
    benchmark, contribution = (with_strings(t)[columns] for t in tables[:2])
    features = (("f01", "float"), ("f02", "float"), ("f03", "float"), ("colour", "category"), ("note", "text"))
    schema = TaskSchema("classification", "label", "int", features)
    reference = IntakeReference(contribution.iloc[:100].reset_index(drop=True), benchmark)
    edited = benchmark.iloc[:3].assign(note="an edited note")
    frame = pd.concat([contribution.iloc[100:400], edited, benchmark.iloc[3:5]], ignore_index=True)
    leak = intake(frame, reference, schema=schema).report["leakage"]
    assert leak["near_copy"]["looked_for"] is False and leak["near_copy"]["numeric_features"] == 3
    assert (leak["exact_copies"], leak["near_copies"]) == (2, 0)
