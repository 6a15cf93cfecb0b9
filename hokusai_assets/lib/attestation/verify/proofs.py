"""Row proofs: an RFC 6962 inclusion proof of one canonical row in a ``data_root``.

A contributor can show that one row was counted without revealing any other row: the
proof carries only sibling hashes.
"""

from __future__ import annotations

import bisect
import hmac
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from hokusai_assets.lib.attestation.verify.base import is_int
from hokusai_assets.lib.commitments.canonical import canonical_row_bytes
from hokusai_assets.lib.commitments.digests import SHA256_PREFIX, parse_digest
from hokusai_assets.lib.commitments.merkle import (
    inclusion_proof,
    leaf_hash,
    merkle_root,
    sorted_leaves,
    verify_inclusion,
)
from hokusai_assets.lib.errors import HokusaiError


class VerifyError(HokusaiError):
    """A row proof cannot be built as asked."""

    code = "E_VERIFY"


def _row_object(row: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """The committed part of ``row``; a float NaN is a missing cell, as in a frame."""
    missing = [c for c in columns if c not in row]
    if missing:
        raise VerifyError(
            f"the row lacks the committed column(s) {', '.join(map(repr, missing))}; give the row "
            "with every committed column, as it was committed (after pseudonymisation)",
            code="E_VERIFY_ROW_COLUMNS",
        )
    return {c: None if isinstance(row[c], float) and math.isnan(row[c]) else row[c] for c in columns}


def prove_row(
    rows_frame_or_leaves: pd.DataFrame | Sequence[bytes], row: Mapping[str, Any], columns: Sequence[str]
) -> dict[str, Any]:
    """An RFC 6962 inclusion proof that ``row`` is one of the committed rows.

    ``rows_frame_or_leaves`` is the committed frame or its leaf hashes (any order). The
    proof holds the committed ``columns``, the row's ``leaf`` (hex), its ``index`` in the
    sorted leaves, the ``tree_size``, the ``audit_path`` (hex, bottom-up) and the ``root``
    (``sha256:<hex>``, the ``data_root``); it reveals no other row, only sibling hashes.
    """
    columns = list(columns)
    if isinstance(rows_frame_or_leaves, pd.DataFrame):
        leaves = sorted_leaves(rows_frame_or_leaves, columns)
    else:
        leaves = sorted(bytes(leaf) for leaf in rows_frame_or_leaves)
        if any(len(leaf) != 32 for leaf in leaves):
            raise VerifyError("every leaf must be a 32-byte SHA-256 hash", code="E_VERIFY_BAD_LEAF")
    leaf = leaf_hash(canonical_row_bytes(_row_object(row, columns)))
    index = bisect.bisect_left(leaves, leaf)
    if index == len(leaves) or leaves[index] != leaf:
        raise VerifyError(
            "the row is not among the committed rows: check every value and its type (1 and "
            "1.0 are equal, \"1\" is not) and that it is given as committed (after pseudonymisation)",
            code="E_VERIFY_ROW_NOT_FOUND",
        )
    return {
        "columns": columns,
        "leaf": leaf.hex(),
        "index": index,
        "tree_size": len(leaves),
        "audit_path": [node.hex() for node in inclusion_proof(leaves, index)],
        "root": SHA256_PREFIX + merkle_root(leaves).hex(),
    }


def verify_row_proof(
    proof: Mapping[str, Any],
    row: Mapping[str, Any],
    expected_root: str,
    *,
    columns: Sequence[str] | None = None,
    tree_size: int | None = None,
) -> bool:
    """True if ``proof`` shows that ``row`` (its committed columns) is a leaf of the tree
    whose head is ``expected_root`` (e.g. the statement's ``contribution.data_root``).

    ``columns`` (the statement's ``task.columns``) and ``tree_size`` (its
    ``contribution.rows``), when given, must be the proof's. Pass them: the hashes bind
    the row to the root, but not the claimed size, which the audit path alone cannot pin
    down. Never raises: a malformed proof is simply not valid.
    """
    try:
        proof_columns = list(proof["columns"])
        if columns is not None and list(columns) != proof_columns:
            return False
        if tree_size is not None and proof["tree_size"] != tree_size:
            return False
        leaf = leaf_hash(canonical_row_bytes(_row_object(row, proof_columns)))
        if not hmac.compare_digest(leaf.hex(), str(proof["leaf"])) or proof["root"] != expected_root:
            return False
        index, size = proof["index"], proof["tree_size"]
        if not (is_int(index) and is_int(size)):
            return False
        path = [bytes.fromhex(node) for node in proof["audit_path"]]
        if any(len(node) != 32 for node in path):
            return False
        return verify_inclusion(leaf, index, size, path, parse_digest(expected_root))
    except (HokusaiError, KeyError, TypeError, ValueError, AttributeError):
        return False
