"""The attestation statement: an in-toto Statement v1 about one contribution's effect.

The statement carries no wall-clock time and no run id, so the same inputs always give
the same bytes (RFC 8785). Times and run ids go in an unsigned receipt beside it.
Signing (lib/sign.py: DSSE with Ed25519, EIP-712 with secp256k1) wraps these bytes; it
does not change them, and both signature schemes are deterministic, so the same inputs
and keys give byte-identical envelopes too.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hokusai_assets.lib.commitments.digests import parse_digest

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://hokusai.ai/attestations/delta-one/v1"
# The data subject is a Merkle tree head over canonical rows, not the hash of a file, so
# it gets its own algorithm name rather than passing for a plain sha256 of some bytes.
DATA_ROOT_ALGORITHM = "merkle-rfc6962-sha256"


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
