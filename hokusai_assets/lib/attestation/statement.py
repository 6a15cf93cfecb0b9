"""The attestation statement: an in-toto Statement v1 about one contribution's effect.

The statement carries no wall-clock time and no run id, so the same inputs always give
the same bytes (RFC 8785). Times and run ids go in an unsigned receipt beside it.
Signing (lib/sign.py: DSSE with Ed25519, EIP-712 with secp256k1) wraps these bytes; it
does not change them, and both signature schemes are deterministic, so the same inputs
and keys give byte-identical envelopes too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hokusai_assets.lib.attestation.signing import (
    ATTESTER_FILE,
    EIP712_FILE,
    ENVELOPE_FILE,
    AttesterKeys,
    Eip712Domain,
    sign_statement,
)
from hokusai_assets.lib.commitments.canonical import bytes_digest, canonical_json, parse_digest
from hokusai_assets.lib.files import atomic_write_bytes

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://hokusai.ai/attestations/delta-one/v1"
# The data subject is a Merkle tree head over canonical rows, not the hash of a file, so
# it gets its own algorithm name rather than passing for a plain sha256 of some bytes.
DATA_ROOT_ALGORITHM = "merkle-rfc6962-sha256"
STATEMENT_FILE = "statement.json"
RECEIPT_FILE = "receipt.json"


def _hex(digest: str) -> str:
    return parse_digest(digest).hex()


@functools.cache
def code_version() -> dict[str, str | None]:
    """The package version and, in a git checkout, the commit it runs from."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package_version = version("hokusai_assets")
    except PackageNotFoundError:
        package_version = None
    return {"package": "hokusai_assets", "version": package_version, "git_commit": _git_commit()}


def _git_commit() -> str | None:
    # Read .git directly: no subprocess, and no git needed on a verifier's machine.
    git_dir = Path(__file__).resolve().parents[3] / ".git"
    head = git_dir / "HEAD"
    if not head.is_file():
        return None
    ref = head.read_text().strip()
    if not ref.startswith("ref: "):
        return ref
    ref_path = git_dir / ref[5:]
    if ref_path.is_file():
        return ref_path.read_text().strip()
    packed = git_dir / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            if line.endswith(" " + ref[5:]):
                return line.split(" ", 1)[0]
    return None


def build_statement(
    *,
    task: Mapping[str, Any],
    contribution: Mapping[str, Any],
    baseline: Mapping[str, Any],
    improved: Mapping[str, Any],
    benchmark: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    config_digest: str,
    code: Mapping[str, Any],
    seed: int,
) -> dict:
    """Assemble the statement; every digest is ``sha256:<hex>``."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": f"model:{task['name']}:{contribution['partition']}",
                "digest": {"sha256": _hex(improved["model_digest"])},
            },
            {
                "name": f"data:{contribution['partition']}",
                "digest": {DATA_ROOT_ALGORITHM: _hex(contribution["data_root"])},
            },
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "task": dict(task),
            "contribution": dict(contribution),
            "baseline": dict(baseline),
            "improved": dict(improved),
            "benchmark": dict(benchmark),
            "evaluation": dict(evaluation),
            "config_digest": config_digest,
            "code_version": dict(code),
            "seed": seed,
        },
    }


def write_attestation(
    directory: Path,
    statement: Mapping[str, Any],
    receipt: Mapping[str, Any],
    keys: AttesterKeys | None = None,
    domain: Eip712Domain | None = None,
) -> tuple[Path, str]:
    """Write the statement's canonical bytes, its signatures and an unsigned receipt.

    With ``keys``: ``statement.dsse.json`` (DSSE, Ed25519), ``statement.eip712.json`` (the
    typed data and its secp256k1 signature) and ``attester.json`` (the public keys a
    verifier needs) beside ``statement.json``. Returns the statement path and digest.
    """
    statement_bytes = canonical_json(statement)
    digest = bytes_digest(statement_bytes)
    statement_path = directory / STATEMENT_FILE
    atomic_write_bytes(statement_path, statement_bytes)
    if keys is not None:
        signed = sign_statement(statement_bytes, statement, keys, domain)
        atomic_write_bytes(directory / ENVELOPE_FILE, signed.envelope_bytes)
        atomic_write_bytes(directory / EIP712_FILE, canonical_json(signed.eip712))
        atomic_write_bytes(directory / ATTESTER_FILE, canonical_json(keys.public_info(domain)))
    full_receipt = {
        "statement_digest": digest,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **receipt,
    }
    atomic_write_bytes(directory / RECEIPT_FILE, (json.dumps(full_receipt, indent=2, sort_keys=True) + "\n").encode())
    return statement_path, digest
