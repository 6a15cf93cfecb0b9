"""Attestation directories on disk: writing one, finding and verifying one, proving a row.

What the attestation asset writes, what `hokusai verify` and `hokusai prove-row` read, and
what the asset's blocking check runs. Verifying needs only lib/ (no Dagster, no instance);
proving a row also needs the HOKUSAI_HOME that stored the committed rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hokusai_assets.lib.attestation.bundle import ENVELOPE_FILE, AttestationFiles
from hokusai_assets.lib.attestation.eip712 import Eip712Domain
from hokusai_assets.lib.attestation.signing import AttesterKeys, sign_statement
from hokusai_assets.lib.attestation.statement import DeltaOnePredicate, StatementFormatError
from hokusai_assets.lib.attestation.verify.base import Check, VerificationReport
from hokusai_assets.lib.attestation.verify.proofs import verify_row_proof
from hokusai_assets.lib.attestation.verify.verifier import verify_attestation
from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.files import atomic_write_bytes


class AttestationFileError(HokusaiError):
    code = "E_ATTESTATION_FILES"


def write_attestation(
    files: AttestationFiles,
    statement: Mapping[str, Any],
    receipt: Mapping[str, Any],
    keys: AttesterKeys | None = None,
    domain: Eip712Domain | None = None,
) -> str:
    """Write the statement's canonical bytes, its signatures and an unsigned receipt.

    With ``keys``: the DSSE envelope (Ed25519), the EIP-712 typed data and its secp256k1
    signature, and the attester's public keys a verifier needs, beside the statement.
    Returns the statement's digest.
    """
    statement_bytes = canonical_json(statement)
    digest = bytes_digest(statement_bytes)
    atomic_write_bytes(files.statement, statement_bytes)
    if keys is not None:
        signed = sign_statement(statement_bytes, statement, keys, domain)
        atomic_write_bytes(files.envelope, signed.envelope_bytes)
        atomic_write_bytes(files.eip712, canonical_json(signed.eip712))
        atomic_write_bytes(files.attester, canonical_json(keys.public_info(domain)))
    full_receipt = {
        "statement_digest": digest,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **receipt,
    }
    atomic_write_bytes(files.receipt, (json.dumps(full_receipt, indent=2, sort_keys=True) + "\n").encode())
    return digest


def attestation_files(path: Path) -> AttestationFiles:
    """The attestation at ``path``: its directory or any file in it (the envelope, the statement, ...)."""
    files = AttestationFiles(path if path.is_dir() else path.parent)
    if not files.exists():
        raise AttestationFileError(
            f"{path}: no {ENVELOPE_FILE} there; give an attestation directory "
            "($HOKUSAI_HOME/attestations/<partition>) or the envelope file in it",
            code="E_ATTESTATION_NOT_FOUND",
        )
    return files


def load_trusted(files: AttestationFiles, attester: Path | None) -> dict:
    """The attester's public keys: ``attester`` (a copy the verifier trusts), else the published one."""
    source = attester or files.attester
    if not source.is_file():
        raise AttestationFileError(f"{source}: attester public keys not found; pass --attester", code="E_ATTESTATION_ATTESTER")
    return json.loads(source.read_text(encoding="utf-8"))


def verify_files(
    files: AttestationFiles,
    *,
    trusted: Mapping[str, Any],
    data_file: Path | None = None,
    model_file: Path | None = None,
) -> VerificationReport:
    envelope = files.envelope.read_bytes()
    eip712 = json.loads(files.eip712.read_text(encoding="utf-8")) if files.eip712.is_file() else {}
    return verify_attestation(envelope, eip712, trusted=trusted, data_file=data_file, model_file=model_file)


def check_row_proof(report: VerificationReport, proof_file: Path) -> Check:
    """The `row_proof` check: the proof places its row in the statement's data root."""
    try:
        predicate = DeltaOnePredicate.from_statement(report.statement)
    except StatementFormatError as exc:
        return Check("row_proof", False, f"not checked: {exc.message}")
    try:
        document = json.loads(proof_file.read_text(encoding="utf-8"))
        ok = verify_row_proof(
            document["proof"],
            document["row"],
            predicate.contribution.data_root,
            columns=list(predicate.columns) or None,
            tree_size=predicate.contribution.rows,
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

    from hokusai_assets.lib.attestation.verify.proofs import prove_row
    from hokusai_assets.lib.commitments.canonical import to_canonical_value
    from hokusai_assets.lib.intake.conform import conform
    from hokusai_assets.lib.intake.validate import protect_reference
    from hokusai_assets.services.keys import pii_key

    predicate = DeltaOnePredicate.from_statement(json.loads(attestation_files(attestation).statement.read_bytes()))
    key = predicate.contribution.partition
    columns = list(predicate.columns)
    try:
        row = json.loads(row_text)
    except json.JSONDecodeError as exc:
        raise AttestationFileError(f"the row is not valid JSON ({exc.msg}); give one JSON object", code="E_PROOF_ROW") from None
    if not isinstance(row, dict):
        raise AttestationFileError("the row must be a JSON object of column: value", code="E_PROOF_ROW")
    stored = settings.layout.table_file("validated_contribution", key)
    if not stored.is_file():
        raise AttestationFileError(f"{stored} not found: prove rows on the deployment that attested {key}", code="E_PROOF_NO_ROWS")
    schema = settings.schema
    conformed, _ = conform(pd.DataFrame([row]), schema, source="the row")
    committed = protect_reference(conformed, schema, pii_key(settings.layout, os.environ))
    committed_row = {column: to_canonical_value(committed[column].iloc[0]) for column in columns}
    proof = prove_row(pd.read_parquet(stored), committed_row, columns)
    return {"partition": key, "row": committed_row, "proof": proof}
