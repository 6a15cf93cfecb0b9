"""Canonical rows and the data commitment (DESIGN.md section 3).

This module is the only place that decides how a dataset becomes a hash. Every digest
in an attestation, a receipt or ``hokusai verify`` must come from here.

Contract
--------
* **Canonical value** (:func:`to_canonical_value`): ``None``/``pd.NA``/``pd.NaT`` become
  ``null``; booleans stay booleans; integers stay integers, except that an integer
  outside ±(2**53 - 1) becomes its decimal string (RFC 8785 numbers are IEEE doubles,
  so larger integers cannot be written exactly); floats are IEEE doubles (``float32`` and
  ``float16`` are widened exactly); strings stay strings. A bare float NaN or ±inf is an
  error: validation must already have rejected it or turned it into ``None``.
* **Row bytes** (:func:`canonical_row_bytes`): RFC 8785 (JCS) bytes of the JSON object
  ``{column: canonical value}``. JCS writes numbers the ECMAScript way, so ``3`` and
  ``3.0`` give the same bytes: an int column that became float (for instance because a
  CSV reader saw a missing value) does not change the commitment. That holds within
  ±(2**53 - 1); beyond it an integer is a string and an integral float is a number.
* **Frames** (:func:`iter_canonical_rows`): one rule for missing values, the pandas one.
  A cell for which ``pd.isna`` is true (``None``, ``pd.NA``, ``NaT`` and, in a frame
  only, float NaN, which is how pandas marks a missing float) is ``null``. ±inf is
  always an error that names the column. Columns of dates, times, complex numbers and
  other types with no JSON form are rejected: convert them to strings or numbers first.
* **Leaves and root**: leaf = SHA-256(0x00 || row bytes); the leaves of all rows are
  sorted ascending (duplicates kept: every row counts) and combined as the RFC 6962
  Merkle Tree Hash, node = SHA-256(0x01 || left || right). ``data_root`` is
  ``"sha256:" + hex(root)``. Sorting makes the root independent of row order, and
  canonical values make it independent of the file format; any changed value changes it.
* **Proofs**: :func:`inclusion_proof` gives the RFC 6962 audit path of one leaf and
  :func:`verify_inclusion` checks it with the RFC 9162 section 2.1.3.2 algorithm.
* **Digests**: ``"sha256:" + 64 lowercase hex``, over raw bytes or a file's bytes.

Pure Python, numpy and pandas only, so the CLI and the verifier can use it without
dagster or mlflow.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import rfc8785
from pandas.api import types as ptypes

from hokusai_assets.lib.errors import CommitmentError

__all__ = [
    "MAX_SAFE_INTEGER",
    "SHA256_PREFIX",
    "bytes_digest",
    "canonical_json",
    "canonical_row_bytes",
    "data_root",
    "file_digest",
    "inclusion_proof",
    "iter_canonical_rows",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "parse_digest",
    "sorted_leaves",
    "to_canonical_value",
    "verify_inclusion",
]

SHA256_PREFIX = "sha256:"
# Largest integer an IEEE double (and so an RFC 8785 number) holds exactly.
MAX_SAFE_INTEGER = 2**53 - 1

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_CHUNK = 1 << 20  # 1 MiB: bounded memory for any file size
_NAN_POLICY_HINT = (
    "A committed row may not hold NaN or infinity: the NaN policy in hokusai.yaml decides "
    "whether validation rejects such rows or turns the value into null; make sure "
    "validation runs before the data is committed."
)


# --------------------------------------------------------------------------- JSON


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 (JCS) bytes of ``obj`` (statements, configs, predicates)."""
    try:
        return rfc8785.dumps(obj)
    except rfc8785.IntegerDomainError as exc:
        raise CommitmentError(
            f"Cannot canonicalise: {exc}. Integers beyond ±(2**53 - 1) have no exact JSON "
            "number form; store them as strings.",
            code="E_COMMIT_INT_RANGE",
        ) from exc
    except rfc8785.FloatDomainError as exc:
        raise CommitmentError(
            f"Cannot canonicalise: {exc}. NaN and infinity have no JSON form; replace them "
            "with null or a finite number.",
            code="E_COMMIT_NONFINITE",
        ) from exc
    except rfc8785.CanonicalizationError as exc:
        raise CommitmentError(
            f"Cannot canonicalise: {exc}. Only null, booleans, numbers, strings, lists and "
            "objects with string keys can be canonicalised.",
            code="E_COMMIT_UNSUPPORTED_TYPE",
        ) from exc


def _is_missing_scalar(value: Any) -> bool:
    # NaT is pandas' missing marker for dates; treat it like None and pd.NA.
    return value is None or value is pd.NA or value is pd.NaT


def to_canonical_value(value: Any) -> Any:
    """Convert one cell to its JSON-ready canonical value (see the module docstring).

    Raises :class:`CommitmentError` for NaN, ±inf (``E_COMMIT_NONFINITE``) and for any
    type with no canonical form (``E_COMMIT_UNSUPPORTED_TYPE``).
    """
    if _is_missing_scalar(value):
        return None
    # bool before int: bool is a subclass of int.
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        number = int(value)
        # rfc8785 refuses integers a double cannot hold exactly; keep them exact as text.
        return number if abs(number) <= MAX_SAFE_INTEGER else str(number)
    if isinstance(value, (float, np.float16, np.float32, np.float64)):
        number = float(value)  # exact for float16/float32 widening
        if not math.isfinite(number):
            raise CommitmentError(
                f"Value {number!r} cannot be committed. {_NAN_POLICY_HINT}",
                code="E_COMMIT_NONFINITE",
            )
        return number
    if isinstance(value, str):
        return str(value)  # drop subclasses (np.str_, str enums) to the plain value
    raise CommitmentError(
        f"Value {value!r} of type {type(value).__name__} has no canonical form. Committed "
        "cells must be null, booleans, integers, finite floats or strings; convert the "
        "column (for example dates to ISO 8601 strings) before committing.",
        code="E_COMMIT_UNSUPPORTED_TYPE",
    )


def canonical_row_bytes(row: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of ``{column: to_canonical_value(value)}``."""
    obj: dict[str, Any] = {}
    for key, value in row.items():
        if not isinstance(key, str):
            raise CommitmentError(
                f"Column name {key!r} is not a string; JSON object keys must be strings. "
                "Rename the column.",
                code="E_COMMIT_UNSUPPORTED_TYPE",
            )
        try:
            obj[key] = to_canonical_value(value)
        except CommitmentError as exc:
            raise CommitmentError(f"Column {key!r}: {exc.message}", code=exc.code) from exc
    return canonical_json(obj)


# --------------------------------------------------------------------------- frames


def _json_string(text: str, column: str) -> bytes:
    try:
        return rfc8785.dumps(text)
    except rfc8785.CanonicalizationError as exc:
        raise CommitmentError(
            f"Column {column!r} holds a string that is not valid Unicode text ({exc}); "
            "fix the encoding of the source file.",
            code="E_COMMIT_BAD_STRING",
        ) from exc


def _int_fragment(number: int, column: str) -> bytes:
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return str(number).encode("ascii")
    return _json_string(str(number), column)


def _first_label(series: pd.Series, mask: np.ndarray) -> Any:
    return series.index[int(np.flatnonzero(mask)[0])]


def _float_fragments(series: pd.Series, column: str) -> list[bytes]:
    if series.dtype.kind == "f" and series.dtype.itemsize > 8:
        # long double cannot be narrowed to a double without rounding.
        raise CommitmentError(
            f"Column {column!r} has dtype {series.dtype}, wider than a 64-bit float; "
            "convert it to float64 (or to strings) before committing.",
            code="E_COMMIT_UNSUPPORTED_TYPE",
        )
    # float16/float32 widen to float64 exactly; nullable NA becomes NaN, i.e. missing.
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        raise CommitmentError(
            f"Column {column!r} holds {int(infinite.sum())} infinite value(s) (first at row "
            f"{_first_label(series, infinite)!r}). {_NAN_POLICY_HINT}",
            code="E_COMMIT_NONFINITE",
        )
    missing = np.isnan(values)
    cache: dict[float, bytes] = {}  # floats repeat a lot (labels, rounded features)
    out: list[bytes] = []
    for number, is_missing in zip(values.tolist(), missing.tolist()):
        if is_missing:
            out.append(b"null")
            continue
        fragment = cache.get(number)  # 0.0 and -0.0 share a key: both encode as 0
        if fragment is None:
            fragment = cache[number] = rfc8785.dumps(number)
        out.append(fragment)
    return out


def _object_fragments(values: Sequence[Any], missing: Sequence[bool], column: str) -> list[bytes]:
    out: list[bytes] = []
    for value, is_missing in zip(values, missing):
        if is_missing:
            out.append(b"null")
        elif type(value) is str:  # the common case, skip the general dispatch
            out.append(_json_string(value, column))
        else:
            try:
                canonical = to_canonical_value(value)
            except CommitmentError as exc:
                raise CommitmentError(f"Column {column!r}: {exc.message}", code=exc.code) from exc
            if isinstance(canonical, str):
                out.append(_json_string(canonical, column))
            else:
                out.append(rfc8785.dumps(canonical))
    return out


def _column_fragments(series: pd.Series, column: str) -> list[bytes]:
    """JCS value bytes for every cell of one column, converted column-wise for speed."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        values = np.asarray(series, dtype=object)
        return _object_fragments(values.tolist(), pd.isna(values).tolist(), column)
    if ptypes.is_bool_dtype(dtype):
        if dtype == np.bool_:
            return [b"true" if v else b"false" for v in series.tolist()]
        values = series.to_numpy(dtype=object)
        return _object_fragments(values.tolist(), series.isna().to_numpy().tolist(), column)
    if ptypes.is_integer_dtype(dtype):
        if isinstance(dtype, np.dtype):  # numpy ints cannot be missing
            return [_int_fragment(v, column) for v in series.tolist()]
        missing = series.isna().to_numpy().tolist()
        return [
            b"null" if m else _int_fragment(int(v), column)
            for v, m in zip(series.to_numpy(dtype=object).tolist(), missing)
        ]
    if ptypes.is_float_dtype(dtype):
        return _float_fragments(series, column)
    if ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype):
        values = series.to_numpy(dtype=object)
        return _object_fragments(values.tolist(), pd.isna(values).tolist(), column)
    raise CommitmentError(
        f"Column {column!r} has dtype {dtype}, which has no canonical JSON form. Committed "
        "columns must hold booleans, integers, floats or strings; convert it (for example "
        "dates to ISO 8601 strings) before committing.",
        code="E_COMMIT_UNSUPPORTED_TYPE",
    )


def _check_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    columns = list(columns)
    if not columns:
        raise CommitmentError(
            "No columns to commit to: pass the task's label and feature columns.",
            code="E_COMMIT_NO_COLUMNS",
        )
    seen: set[str] = set()
    for column in columns:
        if not isinstance(column, str):
            raise CommitmentError(
                f"Column name {column!r} is not a string; JSON object keys must be strings.",
                code="E_COMMIT_UNSUPPORTED_TYPE",
            )
        if column in seen:
            raise CommitmentError(
                f"Column {column!r} is listed twice; each committed column must be unique.",
                code="E_COMMIT_DUPLICATE_COLUMN",
            )
        seen.add(column)
    present = list(frame.columns)
    for column in columns:
        count = present.count(column)
        if count == 0:
            shown = ", ".join(repr(c) for c in present[:20]) + (" ..." if len(present) > 20 else "")
            raise CommitmentError(
                f"Column {column!r} is missing from the data (columns present: {shown or 'none'}). "
                "Check the task's label and features in hokusai.yaml against the file.",
                code="E_COMMIT_MISSING_COLUMN",
            )
        if count > 1:
            raise CommitmentError(
                f"Column {column!r} appears {count} times in the data; rename the duplicates.",
                code="E_COMMIT_DUPLICATE_COLUMN",
            )
    return columns


def iter_canonical_rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[bytes]:
    """Yield the canonical row bytes of every row of ``frame``, keys = ``columns``.

    Missing cells (``pd.isna``: None, pd.NA, NaT, and float NaN, pandas' missing marker)
    become ``null``; ±inf raises ``E_COMMIT_NONFINITE`` naming the column. The bytes are
    identical to ``canonical_row_bytes`` of the same values (with NaN read as missing).
    """
    columns = _check_columns(frame, columns)
    # JCS orders object members by the UTF-16 code units of their keys.
    ordered = sorted(columns, key=lambda c: c.encode("utf-16be"))
    per_column: list[list[bytes]] = []
    for column in ordered:
        prefix = _json_string(column, column) + b":"
        per_column.append([prefix + f for f in _column_fragments(frame[column], column)])
    for members in zip(*per_column):
        yield b"{" + b",".join(members) + b"}"


# --------------------------------------------------------------------------- Merkle tree


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


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash of the given leaf hashes, in the given order."""
    if len(leaves) == 0:
        return hashlib.sha256(b"").digest()
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


def sorted_leaves(frame: pd.DataFrame, columns: Sequence[str]) -> list[bytes]:
    """Leaf hashes of all rows, sorted ascending (duplicate rows keep their own leaf)."""
    return sorted(leaf_hash(row) for row in iter_canonical_rows(frame, columns))


def data_root(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """``"sha256:" + hex`` of the Merkle root over the sorted leaves of ``frame``."""
    return SHA256_PREFIX + merkle_root(sorted_leaves(frame, columns)).hex()


# --------------------------------------------------------------------------- digests


def bytes_digest(data: bytes) -> str:
    """``"sha256:" + hex`` of raw bytes."""
    return SHA256_PREFIX + hashlib.sha256(data).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """``"sha256:" + hex`` of a file's raw bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return SHA256_PREFIX + digest.hexdigest()


def parse_digest(digest: str) -> bytes:
    """``"sha256:<64 lowercase hex>"`` -> the 32 raw bytes."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise CommitmentError(
            f"{digest!r} is not a digest; expected 'sha256:' followed by 64 lowercase hex "
            "characters, as written by hokusai.",
            code="E_COMMIT_BAD_DIGEST",
        )
    return bytes.fromhex(digest[len(SHA256_PREFIX):])
