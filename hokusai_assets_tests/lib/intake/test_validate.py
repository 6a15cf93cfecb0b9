import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.commitments.merkle import row_leaves
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.lib.intake.pii.scanner import find_cleartext_pii
from hokusai_assets.lib.intake.validate import IntakePolicy, IntakeReference, protect_reference, run_intake
from hokusai_assets.lib.samples.mock_task import generate_rows
from hokusai_assets.lib.task import TaskSchema

KEY = PiiKey.from_secret(bytes(range(32)))
SCHEMA = TaskSchema(
    "classification", "label", "int", tuple((f"f{i:02d}", "float") for i in range(1, 13)), id_column="user"
)


@pytest.fixture(scope="module")
def tables():
    rows = generate_rows("classification", 1500, seed=4)
    rows.insert(0, "user", [f"user-{i}" for i in range(len(rows))])
    baseline, benchmark, contribution = rows.iloc[:100], rows.iloc[100:700], rows.iloc[700:].reset_index(drop=True)
    reference = IntakeReference(protect_reference(baseline, SCHEMA, KEY), protect_reference(benchmark, SCHEMA, KEY))
    return baseline, benchmark, contribution, reference


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


SCHEMA_WITHOUT_ID = TaskSchema("classification", "label", "int", SCHEMA.features)


def intake(frame, reference, policy=IntakePolicy(), name="c.csv", schema=SCHEMA):
    return run_intake(csv_bytes(frame), "csv", name, schema, policy, KEY, reference)


def test_clean_contribution_passes_every_check(tables):
    _, _, contribution, reference = tables
    result = intake(contribution, reference)
    assert result.accepted, {n: c.description for n, c in result.checks.items()}
    assert all(c.passed for c in result.checks.values())
    assert len(result.frame) == len(contribution) == len(result.leaves)
    assert result.report["quality"]["score"] > 0.9


def test_pii_in_ids_and_free_text_is_pseudonymised_and_counted(tables):
    _, _, contribution, reference = tables
    frame = contribution.copy()
    frame["user"] = [f"person{i}@example.com" for i in range(len(frame))]
    frame["notes"] = "call me on +44 20 7946 0958 thanks"
    result = intake(frame, reference)
    assert result.accepted
    assert result.frame["user"].str.fullmatch(r"<email:[0-9a-f]{24}>").all()
    assert find_cleartext_pii(result.frame) == {}
    pii = result.report["pii"]
    assert pii["counts"]["user"] == {"email": len(frame)} and pii["counts"]["notes"] == {"phone": len(frame)}
    assert "person0@example.com" not in str(result.as_dict()) and "7946" not in str(result.as_dict())


def test_duplicate_ids_within_a_file_are_a_schema_error(tables):
    _, _, contribution, reference = tables
    result = intake(pd.concat([contribution.iloc[:5], contribution.iloc[:1]]), reference)
    assert result.first_failure.name == "schema_valid"
    assert result.checks["schema_valid"].metadata["code"] == "E_SCHEMA_DUPLICATE_ID"


def test_duplicates_within_against_baseline_and_earlier_are_removed(tables):
    baseline, _, contribution, reference = tables
    # Without an id column, exact repeats are duplicates rather than conflicting ids.
    def intake_rows(frame, ref):
        return intake(frame.drop(columns=["user"]), ref, schema=SCHEMA_WITHOUT_ID)

    first = intake_rows(contribution.iloc[:300], reference)
    earlier = IntakeReference(reference.baseline, reference.benchmark, frozenset(first.leaves))
    resubmitted = pd.concat(
        [contribution.iloc[250:400], contribution.iloc[390:400], baseline.iloc[:20]], ignore_index=True
    )
    result = intake_rows(resubmitted, earlier)
    duplicates = result.report["duplicates"]
    assert duplicates["within_file"] == 10 and duplicates["in_baseline"] == 20
    assert duplicates["in_earlier_contributions"] == 50
    assert len(result.frame) == 100  # only contribution rows 300..399 are new
    share = result.checks["duplicate_share"]
    assert share.passed and not share.blocking and "earn nothing" in share.description


def test_everything_already_seen_adds_nothing(tables):
    baseline, _, _, reference = tables
    result = intake(baseline, reference)
    assert not result.accepted and result.first_failure.name == "quality_above_minimum"
    assert result.first_failure.metadata["code"] == "E_INTAKE_NOTHING_NEW"
    assert not result.checks["duplicate_share"].passed  # warns: 100% duplicates


def test_benchmark_copies_are_removed_and_too_many_reject_the_file(tables):
    _, benchmark, contribution, reference = tables
    a_few = pd.concat([contribution.iloc[:200], benchmark.iloc[:5].assign(label=0)], ignore_index=True)
    result = intake(a_few, reference)
    assert result.accepted and result.report["leakage"]["rows"] == 5 and len(result.frame) == 200
    many = pd.concat([contribution.iloc[:100], benchmark.iloc[:50]], ignore_index=True)
    rejected = intake(many, reference)
    assert not rejected.accepted and rejected.first_failure.name == "no_benchmark_leakage"
    assert "benchmark rows are for evaluation only" in rejected.first_failure.description


def test_low_quality_is_rejected_with_its_parts(tables):
    _, _, contribution, reference = tables
    skewed = contribution.iloc[:200].assign(label=0)
    skewed.loc[:, "f01"] = 1e6  # a unit mix-up: far outside the baseline's range
    result = intake(skewed, reference, IntakePolicy(min_quality=0.6))
    check = result.checks["quality_above_minimum"]
    assert not check.passed and check.metadata["label_balance"] == 0.0 and check.metadata["in_range"] == 0.0
    assert "intake.min_quality" in check.description


def test_schema_failure_explains_and_skips_the_rest(tables):
    _, _, contribution, reference = tables
    result = intake(contribution.drop(columns=["f03"]), reference)
    assert not result.accepted and result.first_failure.name == "schema_valid"
    assert "'f03'" in result.first_failure.description and result.frame.empty
    assert list(result.frame.columns) == SCHEMA.columns
    # Only what ran is reported: the four checks that need conformed rows are named, not failed.
    assert list(result.checks) == ["schema_valid"]
    not_evaluated = result.checks["schema_valid"].metadata["not_evaluated"]
    for name in ("no_cleartext_pii", "no_benchmark_leakage", "quality_above_minimum", "duplicate_share"):
        assert name in not_evaluated
    # Pseudonymising runs before the schema fit; nothing after it was measured, and no figure says so.
    assert set(result.figures()) <= {"rows_received", "pii_pseudonymised"}


def test_figures_are_the_numbers_the_checks_measured(tables):
    _, benchmark, contribution, reference = tables
    with_copies = pd.concat([contribution.iloc[:300], contribution.iloc[:30], benchmark.iloc[:6]], ignore_index=True)
    result = intake(with_copies.drop(columns=["user"]), reference, schema=SCHEMA_WITHOUT_ID)
    figures = result.figures()
    assert figures["rows_received"] == 336
    assert figures["rows_kept"] == len(result.frame) == 300  # 30 repeats and 6 benchmark copies removed
    assert figures["duplicate_share"] == pytest.approx(30 / 336, abs=1e-3)
    assert figures["leakage_share"] == pytest.approx(6 / 336, abs=1e-3)
    assert figures["quality_score"] == result.checks["quality_above_minimum"].metadata["score"]
    assert figures["pii_pseudonymised"] == 0  # numbers only: nothing to pseudonymise
    assert all(isinstance(value, (int, float)) for value in figures.values())


def test_nan_policy_drop_rows_lowers_completeness(tables):
    _, _, contribution, reference = tables
    holes = contribution.iloc[:100].copy()
    holes.loc[:9, "f02"] = np.nan
    rejected = intake(holes, reference)
    assert rejected.first_failure.name == "schema_valid"
    kept = intake(holes, reference, IntakePolicy(nan_policy="drop_rows"))
    assert kept.accepted and len(kept.frame) == 90
    assert kept.report["quality"]["parts"]["completeness"] < 1.0


def test_row_order_does_not_change_what_is_kept(tables):
    _, _, contribution, reference = tables
    a = intake(contribution.iloc[:200], reference)
    b = intake(contribution.iloc[:200].iloc[::-1], reference)
    assert sorted(a.leaves) == sorted(b.leaves)
    assert sorted(row_leaves(a.frame, SCHEMA.columns)) == sorted(a.leaves)
