"""Attestations on disk: verifying a directory, re-running its numbers, proving a row.

What `hokusai verify` and `hokusai prove-row` do, and what the attestation asset's
blocking check runs. Verification needs only lib/ (no Dagster, no instance); a re-run
also needs the HOKUSAI_HOME whose stored inputs the statement commits to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hokusai_assets.lib.attestation.signing import ATTESTER_FILE, EIP712_FILE, ENVELOPE_FILE
from hokusai_assets.lib.attestation.verify import Check, VerificationReport, verify_attestation, verify_row_proof
from hokusai_assets.lib.errors import HokusaiError


class AttestationFileError(HokusaiError):
    code = "E_ATTESTATION_FILES"


def attestation_directory(path: Path) -> Path:
    """Accept the directory or any file in it (the envelope, the statement, ...)."""
    directory = path if path.is_dir() else path.parent
    if not (directory / ENVELOPE_FILE).is_file():
        raise AttestationFileError(
            f"{path}: no {ENVELOPE_FILE} there; give an attestation directory "
            "($HOKUSAI_HOME/attestations/<partition>) or the envelope file in it",
            code="E_ATTESTATION_NOT_FOUND",
        )
    return directory


def load_trusted(directory: Path, attester: Path | None) -> dict:
    source = attester or directory / ATTESTER_FILE
    if not source.is_file():
        raise AttestationFileError(f"{source}: attester public keys not found; pass --attester", code="E_ATTESTATION_ATTESTER")
    return json.loads(source.read_text(encoding="utf-8"))


def verify_directory(
    directory: Path,
    *,
    trusted: Mapping[str, Any],
    data_file: Path | None = None,
    model_file: Path | None = None,
) -> VerificationReport:
    envelope = (directory / ENVELOPE_FILE).read_bytes()
    eip712_path = directory / EIP712_FILE
    eip712 = json.loads(eip712_path.read_text(encoding="utf-8")) if eip712_path.is_file() else {}
    return verify_attestation(envelope, eip712, trusted=trusted, data_file=data_file, model_file=model_file)


def check_row_proof(report: VerificationReport, proof_file: Path) -> Check:
    """The `row_proof` check: the proof places its row in the statement's data root."""
    statement = report.statement or {}
    contribution = statement.get("predicate", {}).get("contribution", {})
    columns = statement.get("predicate", {}).get("task", {}).get("columns")
    try:
        document = json.loads(proof_file.read_text(encoding="utf-8"))
        ok = verify_row_proof(
            document["proof"],
            document["row"],
            contribution.get("data_root", ""),
            columns=columns,
            tree_size=contribution.get("rows"),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Check("row_proof", False, f"cannot read {proof_file.name}: {type(exc).__name__}")
    detail = "the row is one of the committed rows" if ok else "the proof does not place this row in the data root"
    return Check("row_proof", ok, detail)


def prove_committed_row(settings, attestation: Path, row_text: str) -> dict:
    """An inclusion proof for one row of an attested contribution stored under HOKUSAI_HOME.

    The row is given as the contributor knows it; it is conformed and pseudonymised with
    this deployment's key exactly as at intake, so it matches its committed form.
    """
    import pandas as pd

    from hokusai_assets.lib.attestation.statement import STATEMENT_FILE
    from hokusai_assets.lib.attestation.verify import prove_row
    from hokusai_assets.lib.commitments.canonical import to_canonical_value
    from hokusai_assets.lib.intake.pii import load_or_create_key
    from hokusai_assets.lib.intake.schema import conform
    from hokusai_assets.lib.intake.validate import protect_reference

    directory = attestation_directory(attestation)
    statement = json.loads((directory / STATEMENT_FILE).read_bytes())
    key = statement["predicate"]["contribution"]["partition"]
    columns = statement["predicate"]["task"]["columns"]
    try:
        row = json.loads(row_text)
    except json.JSONDecodeError as exc:
        raise AttestationFileError(f"the row is not valid JSON ({exc.msg}); give one JSON object", code="E_PROOF_ROW") from None
    if not isinstance(row, dict):
        raise AttestationFileError("the row must be a JSON object of column: value", code="E_PROOF_ROW")
    stored = settings.storage_dir / "validated_contribution" / f"{key}.parquet"
    if not stored.is_file():
        raise AttestationFileError(f"{stored} not found: prove rows on the deployment that attested {key}", code="E_PROOF_NO_ROWS")
    schema = settings.schema
    conformed, _ = conform(pd.DataFrame([row]), schema, source="the row")
    committed = protect_reference(conformed, schema, load_or_create_key(settings.keys_dir, os.environ))
    committed_row = {column: to_canonical_value(committed[column].iloc[0]) for column in columns}
    proof = prove_row(pd.read_parquet(stored), committed_row, columns)
    return {"partition": key, "row": committed_row, "proof": proof}
