"""The contributions overview: one row per contribution, from what the store, intake and attestation recorded.

Pure: the caller reads the files (``services/overview.py``); this module decides what a row
says, so the Dagster table, its Parquet file and any notebook agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from hokusai_assets.lib.attestation.statement import DeltaOnePredicate
from hokusai_assets.lib.evaluation.markdown import markdown_table

ATTESTED = "attested"
NOT_ACCEPTED = "attested, not accepted"
REJECTED = "rejected at intake"
PENDING = "pending"
# Its stored bytes failed authentication when its run read them (E_STORE_CORRUPT): never
# validated, trained on or attested until the entry is restored.
DAMAGED = "damaged in store"


@dataclass(frozen=True)
class ContributionSummary:
    partition: str
    received: str  # ISO 8601, UTC: when the store took the file
    wallet: str
    status: str  # attested | attested, not accepted | rejected at intake | damaged in store | pending
    rows_kept: int | None  # rows the intake kept (None until validated)
    checks_passed: int
    checks_evaluated: int  # a file that does not fit the schema is evaluated by one check only
    failed_checks: str  # names, comma-separated ("" when none failed)
    accepted: bool | None  # the delta's decision; False when rejected at intake; None while pending
    delta_one_bps: int | None
    attestation_digest: str | None  # the statement's digest (receipt.json)


def summarise(
    *,
    partition: str,
    received_microseconds: int,
    wallet: str,
    intake_report: Mapping[str, Any] | None,
    statement: Mapping[str, Any] | None,
    receipt: Mapping[str, Any] | None,
    store_fault: Mapping[str, Any] | None = None,
) -> ContributionSummary:
    """One contribution's row: what the intake found and, once attested, what was decided.

    ``store_fault`` is what the store recorded when it last failed to read the entry's bytes:
    it decides the status of an entry not yet decided (an attested or rejected one was
    decided on bytes that authenticated then, and keeps that decision).
    """
    checks = (intake_report or {}).get("checks", {})
    failed = [name for name, check in checks.items() if not check.get("passed")]
    rejected = intake_report is not None and not intake_report.get("accepted")
    evaluation = DeltaOnePredicate.from_statement(statement).evaluation if statement is not None else None
    if evaluation is not None:
        status = ATTESTED if evaluation["accepted"] else NOT_ACCEPTED
    elif rejected:
        status = REJECTED
    else:
        status = PENDING if store_fault is None else DAMAGED
    return ContributionSummary(
        partition=partition,
        received=datetime.fromtimestamp(received_microseconds / 1_000_000, timezone.utc).isoformat(timespec="seconds"),
        wallet=wallet,
        status=status,
        rows_kept=None if intake_report is None else int(intake_report.get("rows_validated", 0)),
        checks_passed=len(checks) - len(failed),
        checks_evaluated=len(checks),
        failed_checks=", ".join(failed),
        accepted=bool(evaluation["accepted"]) if evaluation is not None else (False if rejected else None),
        delta_one_bps=int(evaluation["delta_one_bps"]) if evaluation is not None else None,
        attestation_digest=(receipt or {}).get("statement_digest") if evaluation is not None else None,
    )


COLUMNS = tuple(ContributionSummary.__dataclass_fields__)


def overview_frame(summaries: Iterable[ContributionSummary]) -> pd.DataFrame:
    """The overview as a table (what the Parquet file holds), in the order given: the store's
    arrival order, which ``received`` (to the second) cannot always tell apart."""
    frame = pd.DataFrame([asdict(s) for s in summaries], columns=list(COLUMNS))
    for column in ("rows_kept", "delta_one_bps"):
        frame[column] = frame[column].astype("Int64")
    frame["accepted"] = frame["accepted"].astype("boolean")
    return frame


def overview_markdown(frame: pd.DataFrame) -> str:
    """The overview as people read it in the Dagster UI."""
    if frame.empty:
        return "_No contributions yet._"

    def cell(value: Any) -> Any:
        return None if value is pd.NA or (isinstance(value, float) and pd.isna(value)) else value

    def short(digest: str | None) -> str | None:
        # Enough to tell statements apart and to search for; the Parquet file has all 64 digits.
        return f"{digest[: len('sha256:') + 12]}…" if digest else None

    rows = [
        (
            row.partition,
            row.received,
            row.wallet,
            cell(row.rows_kept),
            f"{row.checks_passed}/{row.checks_evaluated}" + (f" (failed: {row.failed_checks})" if row.failed_checks else ""),
            {True: "yes", False: "no"}.get(cell(row.accepted), "-"),
            cell(row.delta_one_bps),
            short(row.attestation_digest),
            row.status,
        )
        for row in frame.itertuples(index=False)
    ]
    headers = ["partition", "received", "wallet", "rows kept", "checks passed", "accepted", "DeltaOne bps", "attestation", "status"]
    return markdown_table(headers, rows)
