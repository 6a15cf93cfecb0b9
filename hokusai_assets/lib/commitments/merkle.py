"""The Merkle tree of a table (RFC 6962): leaves of canonical rows, the root, inclusion proofs.

leaf = SHA-256(0x00 || row bytes); the leaves of all rows are sorted ascending (duplicates
kept: every row counts) and combined as the RFC 6962 Merkle Tree Hash, node = SHA-256(0x01
|| left || right). ``data_root`` is ``"sha256:" + hex(root)``: sorting makes it independent
of row order, canonical values make it independent of the file format.
"""

from __future__ import annotations

import hashlib
import hmac
import operator
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hokusai_assets.lib.commitments.digests import SHA256_PREFIX
from hokusai_assets.lib.commitments.rows import row_batches
from hokusai_assets.lib.errors import CommitmentError

_DIGEST = operator.methodcaller("digest")


def leaf_hash(row_bytes: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || row bytes)."""
    return hashlib.sha256(b"\x00" + row_bytes).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    # Pairing neighbours bottom-up and promoting an odd last node unchanged builds exactly
    # RFC 6962's tree (split at the largest power of two below n), without recursion.
    up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        up.append(level[-1])
    return up


def _merkle_root_of_digests(level: np.ndarray) -> bytes:
    """RFC 6962 root over an (n, 32) uint8 array of leaf hashes, a level at a time."""
    if len(level) == 0:
        return hashlib.sha256(b"").digest()
    while len(level) > 1:
        pairs = len(level) // 2
        nodes = np.empty((pairs, 65), dtype=np.uint8)
        nodes[:, 0] = 1
        nodes[:, 1:] = level[: 2 * pairs].reshape(pairs, 64)
        hashed = map(_DIGEST, map(hashlib.sha256, nodes.view("V65").ravel().tolist()))
        up = np.frombuffer(b"".join(hashed), dtype=np.uint8).reshape(pairs, 32)
        # An odd last node is promoted unchanged (RFC 6962's largest-power-of-two split).
        level = np.concatenate([up, level[-1:]]) if len(level) % 2 else up
    return level[0].tobytes()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash of the given leaf hashes, in the given order."""
    if len(leaves) == 0:
        return hashlib.sha256(b"").digest()
    if len(leaves) > 2 and set(map(len, leaves)) == {32}:
        return _merkle_root_of_digests(np.frombuffer(b"".join(leaves), np.uint8).reshape(-1, 32))
    level: Sequence[bytes] = leaves
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 6962 audit path PATH(index, D[n]) of leaf ``index``, bottom-up."""
    if not 0 <= index < len(leaves):
        raise CommitmentError(
            f"Leaf index {index} is outside a tree of {len(leaves)} leaves; use an index "
            f"from 0 to {len(leaves) - 1}.",
            code="E_COMMIT_BAD_INDEX",
        )
    path: list[bytes] = []
    level: Sequence[bytes] = leaves
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):  # a promoted odd node has no sibling at this level
            path.append(level[sibling])
        index //= 2
        level = _next_level(level)
    return path


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof (RFC 9162 section 2.1.3.2). Never raises on bad input."""
    if not (0 <= index < tree_size):
        return False
    fn, sn = index, tree_size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def _is_ascending(digests: np.ndarray) -> bool:
    """True if the rows of an (n, 32) uint8 array are in ascending byte order."""
    if len(digests) < 2:
        return True
    words = digests.view(">u8")  # (n, 4): big-endian words compare like the bytes
    before, after = words[:-1], words[1:]
    differ = before != after
    first = np.argmax(differ, axis=1)
    rows = np.flatnonzero(differ.any(axis=1))
    return bool(np.all(before[rows, first[rows]] < after[rows, first[rows]]))


def _leaf_bytes(frame: pd.DataFrame, columns: Sequence[str]) -> bytes:
    """The leaf hashes of all rows, in row order, concatenated (32 bytes each)."""
    hashed: list[bytes] = []
    for batch in row_batches(frame, columns, "\x00"):  # leaf = SHA-256(0x00 || row)
        hashed.append(b"".join(map(_DIGEST, map(hashlib.sha256, batch.to_pylist()))))
    return b"".join(hashed)


def row_leaves(frame: pd.DataFrame, columns: Sequence[str]) -> list[bytes]:
    """The leaf hash of every row, in row order (what deduplication compares)."""
    joined = _leaf_bytes(frame, columns)
    return [joined[i : i + 32] for i in range(0, len(joined), 32)]


def _sorted_leaf_digests(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Leaf hashes of all rows as an (n, 32) uint8 array, rows sorted ascending."""
    joined = _leaf_bytes(frame, columns)
    # numpy orders fixed-width bytes as unsigned bytes, i.e. as memcmp does.
    ordered = np.sort(np.frombuffer(joined, dtype="S32")).view(np.uint8).reshape(-1, 32)
    if not _is_ascending(ordered):  # belt and braces: never trust an order unchecked
        leaves = sorted(joined[i : i + 32] for i in range(0, len(joined), 32))
        ordered = np.frombuffer(b"".join(leaves), dtype=np.uint8).reshape(-1, 32)
    return ordered


def sorted_leaves(frame: pd.DataFrame, columns: Sequence[str]) -> list[bytes]:
    """Leaf hashes of all rows, sorted ascending (duplicate rows keep their own leaf)."""
    return _sorted_leaf_digests(frame, columns).view("V32").ravel().tolist()


def data_root(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """``"sha256:" + hex`` of the Merkle root over the sorted leaves of ``frame``."""
    return SHA256_PREFIX + _merkle_root_of_digests(_sorted_leaf_digests(frame, columns)).hex()
