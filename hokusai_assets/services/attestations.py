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
from hokusai_assets.lib.attestation.verify.base import Check, UnreadableFile, VerificationReport
from hokusai_assets.lib.attestation.verify.proofs import verify_row_proof
from hokusai_assets.lib.attestation.verify.signed_checks import trusted_info_problems
from hokusai_assets.lib.attestation.verify.verifier import verify_attestation
from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.files import atomic_directory, atomic_write_bytes


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

    The files are written into a staging folder that becomes the attestation directory in
    one rename: "attested" is decided by a file being there (the statement, the envelope),
    so a directory with some of them (a full disk, a crash) must never appear.
    """
    statement_bytes = canonical_json(statement)
    digest = bytes_digest(statement_bytes)
    signed = sign_statement(statement_bytes, statement, keys, domain) if keys is not None else None
    full_receipt = {
        "statement_digest": digest,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **receipt,
    }
    with atomic_directory(files.directory) as staging:
        staged = AttestationFiles(staging)
        atomic_write_bytes(staged.statement, statement_bytes)
        if signed is not None:
            atomic_write_bytes(staged.envelope, signed.envelope_bytes)
            atomic_write_bytes(staged.eip712, canonical_json(signed.eip712))
            atomic_write_bytes(staged.attester, canonical_json(keys.public_info(domain)))
        atomic_write_bytes(staged.receipt, (json.dumps(full_receipt, indent=2, sort_keys=True) + "\n").encode())
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


ATTESTER_REMEDY = (
    "pass --attester with a copy of the attester's public keys that you trust (`hokusai keys` on the "
    "attesting deployment prints them)"
)
DIRECTORY_REMEDY = "copy the attestation's whole directory again from its publisher"


def read_json_file(
    path: Path, what: str, remedy: str, *, error: type[HokusaiError] = AttestationFileError, code: str | None = None
) -> Any:
    """``path`` parsed as JSON, or ``error`` (one line: the path, what is wrong, ``remedy``)
    when it is missing, a directory, unreadable, not UTF-8, empty or not JSON."""

    def fail(problem: str) -> HokusaiError:
        return error(f"{path}: {problem}; {remedy}", code=code)

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise fail(f"{what} does not exist") from None
    except IsADirectoryError:
        raise fail(f"is a directory, not {what}") from None
    except OSError as exc:
        raise fail(f"{what} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not data.strip():
        raise fail(f"{what} is not readable JSON (the file is empty)")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise fail(f"{what} is not readable JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise fail(
            f"{what} is not readable JSON ({exc.msg}: line {exc.lineno} column {exc.colno}; truncated or damaged)"
        ) from None
    except ValueError as exc:  # numbers too long to convert, and the like
        raise fail(f"{what} is not readable JSON ({exc})") from None


def load_trusted(files: AttestationFiles, attester: Path | None) -> dict:
    """The attester's public keys: ``attester`` (a copy the verifier trusts), else the published one."""
    source = attester or files.attester
    info = read_json_file(source, "the attester key file", ATTESTER_REMEDY, code="E_ATTESTATION_ATTESTER")
    problems = trusted_info_problems(info)
    if problems:
        raise AttestationFileError(
            f"{source}: not the attester's public keys ({'; '.join(problems)}); {ATTESTER_REMEDY}",
            code="E_ATTESTATION_ATTESTER",
        )
    return info


def verify_files(
    files: AttestationFiles,
    *,
    trusted: Mapping[str, Any],
    data_file: Path | None = None,
    model_file: Path | None = None,
) -> VerificationReport:
    """Verify the attestation's files. Damaged contents of the envelope or the EIP-712 file
    (missing, truncated, of the wrong shape) are a failed check naming the file, not an
    exception: callers such as serving ask whether a model's attestation holds, and a damaged
    one simply does not. Only an envelope the OS refuses to read is an error."""
    try:
        envelope = files.envelope.read_bytes()
    except OSError as exc:
        raise AttestationFileError(
            f"{files.envelope}: the envelope cannot be read ({exc.strerror or type(exc).__name__}); "
            f"{DIRECTORY_REMEDY}",
            code="E_ATTESTATION_FILES",
        ) from None
    try:
        eip712 = read_json_file(files.eip712, "the EIP-712 file", DIRECTORY_REMEDY)
    except AttestationFileError as exc:
        eip712 = UnreadableFile(exc.message)
    return verify_attestation(envelope, eip712, trusted=trusted, data_file=data_file, model_file=model_file)


PROOF_REMEDY = "give the JSON `hokusai prove-row` printed, unchanged"


def check_row_proof(report: VerificationReport, proof_file: Path) -> Check:
    """The `row_proof` check: the proof places its row in the statement's data root."""
    try:
        predicate = DeltaOnePredicate.from_statement(report.statement)
    except StatementFormatError as exc:
        return Check("row_proof", False, f"not checked: {exc.message}")
    try:
        document = read_json_file(proof_file, "the row proof file", PROOF_REMEDY)
    except AttestationFileError as exc:
        return Check("row_proof", False, exc.message)
    if not (isinstance(document, dict) and all(isinstance(document.get(key), dict) for key in ("row", "proof"))):
        shape = 'an object with a "row" and a "proof" object'
        return Check("row_proof", False, f"{proof_file}: not a row proof ({shape}); {PROOF_REMEDY}")
    ok = verify_row_proof(
        document["proof"],
        document["row"],
        predicate.contribution.data_root,
        columns=list(predicate.columns) or None,
        tree_size=predicate.contribution.rows,
    )
    detail = "the row is one of the committed rows" if ok else "the proof does not place this row in the data root"
    return Check("row_proof", ok, detail)


def row_argument(argument: str) -> tuple[str, str]:
    """The row `hokusai prove-row` was given, the JSON itself or ``@file`` holding it: its
    text, and how to name it in a message."""
    if not argument.startswith("@"):
        return argument, "the row"
    path = Path(argument[1:]).expanduser()
    remedy = "give the row as a JSON object, or @ and the path of a UTF-8 file holding one"
    try:
        return path.read_text(encoding="utf-8"), f"{path}: the row"
    except FileNotFoundError:
        raise AttestationFileError(f"{path}: the row file does not exist; {remedy}", code="E_PROOF_ROW") from None
    except IsADirectoryError:
        raise AttestationFileError(f"{path}: is a directory, not a row file; {remedy}", code="E_PROOF_ROW") from None
    except UnicodeDecodeError:
        raise AttestationFileError(f"{path}: the row file is not UTF-8 text; {remedy}", code="E_PROOF_ROW") from None
    except OSError as exc:
        raise AttestationFileError(
            f"{path}: the row file cannot be read ({exc.strerror or type(exc).__name__}); {remedy}", code="E_PROOF_ROW"
        ) from None


def attested_predicate(files: AttestationFiles) -> DeltaOnePredicate:
    """The statement beside the envelope (``statement.json``), read as our predicate; an
    error naming the file when it is missing or damaged."""
    statement = read_json_file(files.statement, "the statement file", DIRECTORY_REMEDY)
    try:
        return DeltaOnePredicate.from_statement(statement)
    except StatementFormatError as exc:
        raise AttestationFileError(
            f"{files.statement}: not an attestation statement ({exc.message}); {DIRECTORY_REMEDY}",
            code="E_ATTESTATION_STATEMENT",
        ) from None


def prove_committed_row(settings, attestation: Path, row_text: str, source: str = "the row") -> dict:
    """An inclusion proof for one row of an attested contribution stored under HOKUSAI_HOME.

    The row is given as the contributor knows it; it is conformed and pseudonymised with
    this deployment's key exactly as at intake, so it matches its committed form. ``source``
    names it in messages (``<file>: the row`` for a row read from a file).
    """
    import pandas as pd

    from hokusai_assets.lib.attestation.verify.proofs import prove_row
    from hokusai_assets.lib.commitments.canonical import to_canonical_value
    from hokusai_assets.lib.intake.conform import conform
    from hokusai_assets.lib.intake.validate import protect_reference
    from hokusai_assets.services.keys import pii_key

    predicate = attested_predicate(attestation_files(attestation))
    key = predicate.contribution.partition
    columns = list(predicate.columns)
    try:
        row = json.loads(row_text)
    except json.JSONDecodeError as exc:
        raise AttestationFileError(
            f"{source} is not valid JSON ({exc.msg}); give one JSON object", code="E_PROOF_ROW"
        ) from None
    if not isinstance(row, dict):
        raise AttestationFileError(f"{source} must be a JSON object of column: value", code="E_PROOF_ROW")
    stored = settings.layout.table_file("validated_contribution", key)
    if not stored.is_file():
        raise AttestationFileError(f"{stored} not found: prove rows on the deployment that attested {key}", code="E_PROOF_NO_ROWS")
    # Read before anything else so a damaged table is named, not a pyarrow traceback.
    try:
        rows = pd.read_parquet(stored)
    except (OSError, ValueError) as exc:
        raise AttestationFileError(
            f"{stored}: the stored rows of {key} cannot be read ({type(exc).__name__}); restore HOKUSAI_HOME from a "
            "backup, or prove rows on the deployment that attested it",
            code="E_PROOF_NO_ROWS",
        ) from None
    schema = settings.schema
    conformed, _ = conform(pd.DataFrame([row]), schema, source=source)
    committed = protect_reference(conformed, schema, pii_key(settings.layout, os.environ))
    committed_row = {column: to_canonical_value(committed[column].iloc[0]) for column in columns}
    proof = prove_row(rows, committed_row, columns)
    return {"partition": key, "row": committed_row, "proof": proof}
