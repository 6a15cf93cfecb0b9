"""One row per contribution, from what intake and attestation recorded."""

import copy
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from hokusai_assets.lib.overview import (
    ATTESTED,
    DAMAGED,
    NOT_ACCEPTED,
    PENDING,
    REJECTED,
    overview_frame,
    overview_markdown,
    summarise,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "statements"
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
DIGEST = "sha256:" + "ab" * 32
PASSED = {"passed": True, "blocking": True}


@pytest.fixture(scope="module")
def statement() -> dict:
    # A real statement, pinned from the digits example (e2e/test_pinned_statements.py), which
    # leaves out the code version because it names the commit.
    pinned = json.loads((FIXTURES / "digits_example.statement.json").read_bytes())
    pinned["predicate"]["code_version"] = "0" * 40
    return pinned


def intake_report(accepted: bool, rows: int, **checks) -> dict:
    return {"accepted": accepted, "rows_validated": rows, "checks": checks}


def row(partition, microseconds, report=None, statement=None, receipt=None, store_fault=None):
    return summarise(
        partition=partition,
        received_microseconds=microseconds,
        wallet=WALLET,
        intake_report=report,
        statement=statement,
        receipt=receipt,
        store_fault=store_fault,
    )


def test_an_attested_contribution_shows_its_decision_delta_and_digest(statement):
    evaluation = statement["predicate"]["evaluation"]
    report = intake_report(True, 400, schema_valid=PASSED, duplicate_share={"passed": False, "blocking": False})
    summary = row("c-1", 1_700_000_000_000_000, report, statement, {"statement_digest": DIGEST})
    assert summary.status == ATTESTED and summary.accepted is evaluation["accepted"] is True
    assert summary.delta_one_bps == evaluation["delta_one_bps"]
    assert summary.attestation_digest == DIGEST
    assert (summary.rows_kept, summary.checks_passed, summary.checks_evaluated) == (400, 1, 2)
    assert summary.failed_checks == "duplicate_share"
    assert summary.received == "2023-11-14T22:13:20+00:00"  # microseconds since the epoch, in UTC


def test_an_attestation_that_declined_the_reward_says_not_accepted(statement):
    declined = copy.deepcopy(statement)
    declined["predicate"]["evaluation"]["accepted"] = False
    summary = row("c-2", 1, intake_report(True, 10, schema_valid=PASSED), declined, {"statement_digest": DIGEST})
    assert summary.status == NOT_ACCEPTED and summary.accepted is False
    assert summary.attestation_digest == DIGEST  # attested all the same: the digest is the evidence


def test_a_file_rejected_at_intake_has_one_failed_check_and_no_attestation():
    report = intake_report(False, 0, schema_valid={"passed": False, "blocking": True})
    summary = row("c-3", 1, report)
    assert summary.status == REJECTED and summary.accepted is False
    assert (summary.checks_passed, summary.checks_evaluated, summary.failed_checks) == (0, 1, "schema_valid")
    assert summary.delta_one_bps is None and summary.attestation_digest is None


def test_a_contribution_not_yet_validated_is_pending():
    summary = row("c-4", 1)
    assert summary.status == PENDING and summary.accepted is None and summary.rows_kept is None


STORE_FAULT = {"code": "E_STORE_CORRUPT", "message": "stored file for c-5 fails authentication (AES-GCM tag)"}


def test_a_contribution_whose_stored_bytes_failed_authentication_is_damaged_not_pending():
    summary = row("c-5", 1, store_fault=STORE_FAULT)
    assert summary.status == DAMAGED and summary.accepted is None and summary.delta_one_bps is None


def test_a_decided_contribution_keeps_its_decision_whatever_happened_to_its_bytes_since(statement):
    # Decided on bytes that authenticated then: the signed attestation, or the rejection, stands.
    receipt = {"statement_digest": DIGEST}
    attested = row("c-6", 1, intake_report(True, 5, schema_valid=PASSED), statement, receipt, STORE_FAULT)
    rejected = row("c-7", 1, intake_report(False, 0, schema_valid={"passed": False}), store_fault=STORE_FAULT)
    assert (attested.status, rejected.status) == (ATTESTED, REJECTED)


def test_the_table_keeps_arrival_order_and_survives_parquet(statement):
    rows = [  # in the store's order; all three within one second, so "received" cannot order them
        row("b-first", 1, intake_report(True, 5, schema_valid=PASSED), statement, {"statement_digest": DIGEST}),
        row("c-second", 2),
        row("a-third", 3, intake_report(False, 0, schema_valid={"passed": False})),
    ]
    frame = overview_frame(rows)
    assert list(frame["partition"]) == ["b-first", "c-second", "a-third"]
    assert list(frame["accepted"].astype(object).where(frame["accepted"].notna(), None)) == [True, None, False]
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    back = pd.read_parquet(buffer)
    pd.testing.assert_frame_equal(back, frame)  # nullable ints and booleans come back as they went


def test_the_markdown_table_has_a_line_per_contribution(statement):
    frame = overview_frame(
        [
            row("good", 1, intake_report(True, 5, schema_valid=PASSED), statement, {"statement_digest": DIGEST}),
            row("bad", 2, intake_report(False, 0, schema_valid={"passed": False})),
        ]
    )
    lines = overview_markdown(frame).splitlines()
    assert "partition" in lines[0] and "DeltaOne bps" in lines[0]
    good, bad = lines[2], lines[3]
    assert "good" in good and "| yes |" in good and "1/1" in good
    assert "sha256:abababababab…" in good and DIGEST not in good  # short in the UI, whole in Parquet
    assert "bad" in bad and "| no |" in bad and "0/1 (failed: schema_valid)" in bad
    assert overview_markdown(overview_frame([])) == "_No contributions yet._"
