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

Python with numpy, pandas and pyarrow only, so the CLI and the verifier can use it
without dagster or mlflow. Frames are encoded column-wise with numpy and Arrow kernels
(see "frames" below); :func:`canonical_row_bytes` remains the definition, and the tests
check that every frame row equals rfc8785 of its canonical values.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import operator
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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
#
# The frame path is vectorised: each column becomes one Arrow ``large_string`` array of
# RFC 8785 value texts (a null item is a missing cell), built with numpy and Arrow
# kernels with no Python call per cell; Arrow then joins the columns row-wise with their
# keys, writing nulls as ``null``. Every fragment is byte-identical to ``rfc8785.dumps``
# of the cell's canonical value; test_commit.py checks this against rfc8785 itself, row
# by row, on random frames. Columns outside the fast paths (mixed-type object columns,
# unusual extension dtypes) take the per-cell path below, the definition the fast paths
# reproduce. Hashing stays with hashlib, one C call per row (no Python loop).

_TEXT = pa.large_string()
_BINARY = pa.large_binary()
_ROW_BATCH = 1 << 16  # rows joined (and hashed) at a time: bounded memory, warm caches
_DIGEST = operator.methodcaller("digest")


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, _TEXT)


_QUOTE = _text('"')
_EMPTY = _text("")

# RFC 8785 section 3.2.2.2: only '"', '\\' and the C0 controls are escaped; the controls
# with a short form use it, the rest are \u00xx in lowercase hex.
_STRING_ESCAPES = {0x5C: "\\\\", 0x22: '\\"', 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n"}
_STRING_ESCAPES.update({0x0C: "\\f", 0x0D: "\\r"})
for _byte in range(0x20):
    _STRING_ESCAPES.setdefault(_byte, f"\\u{_byte:04x}")
del _byte
# Byte tables for the numpy escaper. The escaped bytes never occur inside a UTF-8
# multibyte sequence (those bytes are >= 0x80), so the UTF-8 bytes can be escaped as is.
_ESCAPE_GROWTH = np.zeros(256, dtype=np.int64)
_ESCAPE_PREFIX = np.zeros((256, 5), dtype=np.uint8)
_ESCAPE_LAST = np.zeros(256, dtype=np.uint8)
for _byte, _escape in _STRING_ESCAPES.items():
    _ESCAPE_GROWTH[_byte] = len(_escape) - 1
    _ESCAPE_PREFIX[_byte, : len(_escape) - 1] = list(_escape[:-1].encode("ascii"))
    _ESCAPE_LAST[_byte] = ord(_escape[-1])
del _byte, _escape


# ---- per-cell path (the reference behaviour, used outside the fast paths)


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


def _float_fragments_per_cell(values: np.ndarray, missing: np.ndarray) -> list[bytes]:
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


def _as_text(fragments: list[bytes]) -> pa.Array:
    # Fragments are valid UTF-8 JSON, so the binary array can be read as text in place.
    return pa.array(fragments, type=_BINARY).view(_TEXT)


# ---- Arrow buffers <-> fixed-width byte matrices


def _text_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (len + 1) and data buffer of a large_string array (null slots included)."""
    buffers = text.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[text.offset : text.offset + len(text) + 1]
    if buffers[2] is None:
        return offsets, np.zeros(0, dtype=np.uint8)
    return offsets, np.frombuffer(buffers[2], dtype=np.uint8)


def _text_from_matrix(chars: np.ndarray, first: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """large_string array whose item i is ``chars[i, first[i] : first[i] + lengths[i]]``."""
    column = np.arange(chars.shape[1])
    inside = (column >= first[:, None]) & (column < (first + lengths)[:, None])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.ascontiguousarray(chars[inside])
    return pa.Array.from_buffers(
        _TEXT, len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


# ---- floats

_DIGIT_0 = np.uint8(ord("0"))


def _expand_exponents(text: pa.Array) -> pa.Array | None:
    """Rewrite Arrow's ``-?d[.ddd]e+NN`` (10 <= NN <= 20) in plain digits, as ECMAScript.

    Arrow writes the same shortest round-trip digits as ECMAScript but switches to
    exponent form at 1e10 instead of 1e21. Works on a byte matrix, one row per number.
    Returns None if an input has another shape (the caller then uses the per-cell path).
    """
    count = len(text)
    width = 24  # "-d.dddddddddddddddde+NN" is at most 23 characters
    offsets, data = _text_buffers(text)
    starts, lengths = offsets[:-1] - offsets[0], offsets[1:] - offsets[:-1]
    if count == 0 or lengths.max() >= width or lengths.min() < 5:
        return None
    padded = np.concatenate([data[offsets[0] : offsets[-1]], np.zeros(width, dtype=np.uint8)])
    # Row i holds number i and then whatever follows it; only its own bytes are read.
    chars = np.lib.stride_tricks.sliding_window_view(padded, width)[starts]
    negative = chars[:, 0] == ord("-")
    if negative.any():
        unsigned = np.where(negative[:, None], chars[:, 1:], chars[:, :-1])
    else:
        unsigned = chars[:, :-1]
    rows = np.arange(count)
    e_at = lengths - negative - 4  # the exponent has two digits: 10 to 20
    has_point = unsigned[:, 1] == ord(".")
    n_digits = np.where(has_point, e_at - 1, 1)
    exponent = (unsigned[rows, e_at + 2] - _DIGIT_0).astype(np.intp) * 10 + (
        unsigned[rows, e_at + 3] - _DIGIT_0
    )
    well_formed = (
        (unsigned[rows, e_at] == ord("e"))
        & (unsigned[rows, e_at + 1] == ord("+"))
        & (exponent >= 10)
        & (exponent <= 20)
        & (has_point | (e_at == 1))
        & (n_digits <= 17)
    )
    if not well_formed.all():
        return None
    # out[:, 0] is the minus sign; the digits start at column 1.
    out = np.empty((count, 22), dtype=np.uint8)
    out[:, 0] = ord("-")
    out[:, 1] = unsigned[:, 0]  # the lead digit, then those after the point
    out[:, 2:18] = unsigned[:, 2:18]
    out[:, 18:] = _DIGIT_0
    column = np.arange(22)
    digits = out[:, 1:]
    digits[...] = np.where(column[1:] <= n_digits[:, None], digits, _DIGIT_0)
    int_digits = exponent + 1  # digits before the decimal point in plain form
    pointed = n_digits > int_digits  # more digits than that: ddd.ddd
    if pointed.any():
        # Insert the point: shift the digits after it one place right.
        point_at = np.where(pointed, int_digits + 1, 22)[:, None]  # column of the point
        shifted = np.concatenate([out[:, :1], out[:, :-1]], axis=1)
        out = np.where(column < point_at, out, shifted)
        out[rows[pointed], point_at[pointed, 0]] = ord(".")
    lengths_out = np.where(pointed, n_digits + 1, int_digits) + negative
    return _text_from_matrix(out, (~negative).astype(np.intp), lengths_out)


def _float_text_arrow(values: np.ndarray, missing: np.ndarray) -> pa.Array | None:
    """ECMAScript Number-to-String of finite doubles via Arrow's shortest formatting."""
    clean = np.where(missing | (values == 0), 0.0, values)  # -0.0 is written "0"
    mask = missing if missing.any() else None
    magnitude = np.abs(clean)
    # Integers below 2**53 are written as integers (their shortest digits are all their
    # digits), and integer text is much cheaper than shortest-float text.
    integral = (np.trunc(clean) == clean) & (magnitude < 2**53)
    if integral.all():
        return pc.cast(pa.array(clean.astype(np.int64), mask=mask), _TEXT)
    text = pc.cast(pa.array(clean, mask=mask), _TEXT)
    wide = (magnitude >= 1e10) & (magnitude < 1e21)
    if not wide.any():
        return text
    wide_integers = wide & integral  # e.g. epoch milliseconds, ids stored as floats
    if wide_integers.any():
        selected = pa.array(wide_integers)
        digits = pc.cast(pa.array(clean[wide_integers].astype(np.int64)), _TEXT)
        text = pc.replace_with_mask(text, selected, digits)
        wide &= ~integral
        if not wide.any():
            return text
    selected = pa.array(wide)
    exponents = text.filter(selected)
    expanded = []
    for start in range(0, len(exponents), 1 << 14):  # bounded temporaries
        part = _expand_exponents(exponents.slice(start, 1 << 14))
        if part is None:
            return None
        expanded.append(part)
    return pc.replace_with_mask(text, selected, pa.concat_arrays(expanded))


# Values whose text exercises every branch of ECMAScript's Number::toString.
_FLOAT_PROBES = (
    0.1, 0.5, 1.0, 100.0, 123.456, 1e-7, 1.5e-7, 1e-6, 1.5e-6, 0.000015, 0.0001, 1e9,
    9999999999.999998, 1e10, 12345678901.5, 123456789012345.67, 2.0**53, 1e16, 1.5e17,
    123456789012345680000.0, 9.999999999999999e20, 1e21, 1.5e22, 5e-324, 2.2250738585072014e-308,
    1.7976931348623157e308, 1 / 3, 2 / 3, 4.35, 0.30000000000000004,
)


@functools.lru_cache(maxsize=1)
def _arrow_floats_are_ecmascript() -> bool:
    """Guard for the fast float path: Arrow's float formatting is not a documented API."""
    probes = np.array(_FLOAT_PROBES + tuple(-x for x in _FLOAT_PROBES), dtype=np.float64)
    try:
        fast = _float_text_arrow(probes, np.zeros(len(probes), dtype=bool))
    except Exception:  # noqa: BLE001 - any failure means: do not use the fast path
        return False
    return fast is not None and fast.to_pylist() == [
        rfc8785.dumps(x).decode("ascii") for x in probes.tolist()
    ]


def _float_fragments(series: pd.Series, column: str) -> pa.Array:
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
    if _arrow_floats_are_ecmascript():
        text = _float_text_arrow(values, missing)
        if text is not None:
            return text
    return _as_text(_float_fragments_per_cell(values, missing))


# ---- integers and booleans


def _int_text(values: np.ndarray, missing: np.ndarray | None) -> pa.Array:
    """Decimal text of integers; beyond ±(2**53 - 1) as a JSON string."""
    if not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))
    text = pc.cast(pa.array(values, mask=missing), _TEXT)
    if values.dtype.itemsize >= 8:  # narrower integers are always safe
        unsafe = values > MAX_SAFE_INTEGER
        if values.dtype.kind == "i":
            unsafe |= values < -MAX_SAFE_INTEGER
        if unsafe.any():
            mask = pa.array(unsafe)
            quoted = pc.binary_join_element_wise(_QUOTE, text.filter(mask), _QUOTE, _EMPTY)
            text = pc.replace_with_mask(text, mask, quoted)
    return text


def _int_fragments(series: pd.Series, column: str) -> pa.Array:
    dtype = series.dtype
    if isinstance(dtype, np.dtype):  # numpy ints cannot be missing
        return _int_text(series.to_numpy(), None)
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    missing = series.isna().to_numpy(dtype=bool)
    if numpy_dtype is not None and np.dtype(numpy_dtype).kind in "iu":
        values = series.to_numpy(dtype=np.dtype(numpy_dtype), na_value=0)
        return _int_text(values, missing if missing.any() else None)
    return _as_text(
        [
            b"null" if m else _int_fragment(int(v), column)
            for v, m in zip(series.to_numpy(dtype=object).tolist(), missing.tolist())
        ]
    )


def _bool_text(values: np.ndarray, missing: np.ndarray | None) -> pa.Array:
    return pc.if_else(pa.array(values, mask=missing), _text("true"), _text("false"))


# ---- strings and object columns


def _quote_strings(text: pa.Array) -> pa.Array:
    """JSON string literals (RFC 8785 escaping) of a large_string array; nulls stay null.

    One numpy pass over the UTF-8 bytes: every output byte is placed by arithmetic on the
    offsets, the quotes and the escape sequences are written into the gaps.
    """
    count = len(text)
    if count == 0:
        return pa.array([], type=_TEXT)
    offsets, data = _text_buffers(text)
    data = data[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    special = np.flatnonzero((data < 0x20) | (data == 0x22) | (data == 0x5C))
    codes = data[special]
    grow = _ESCAPE_GROWTH[codes]  # bytes each special byte gains
    grown = np.zeros(len(special) + 1, dtype=np.int64)  # growth before each special byte
    np.cumsum(grow, out=grown[1:])
    # Item i starts after two quotes per earlier item and the growth of earlier escapes.
    new_offsets = offsets + 2 * np.arange(count + 1) + grown[np.searchsorted(special, offsets)]
    out = np.empty(int(new_offsets[-1]), dtype=np.uint8)
    keep = np.ones(len(out), dtype=bool)  # output bytes that are input bytes, in order
    keep[new_offsets[:-1]] = False
    keep[new_offsets[1:] - 1] = False
    if len(special):
        owner = np.searchsorted(offsets, special, side="right") - 1  # item of each byte
        last = special + 2 * owner + 1 + grown[1:]  # output place of the escaped byte
        first = np.repeat(last - grow, grow)
        prefix_at = first + (np.arange(len(first)) - np.repeat(grown[:-1], grow))
        keep[prefix_at] = False
    out[keep] = data
    out[new_offsets[:-1]] = ord('"')
    out[new_offsets[1:] - 1] = ord('"')
    if len(special):
        out[prefix_at] = _ESCAPE_PREFIX[codes][np.arange(_ESCAPE_PREFIX.shape[1]) < grow[:, None]]
        out[last] = _ESCAPE_LAST[codes]
    validity = None
    if text.null_count:
        validity = pa.array(np.asarray(text.is_valid()), type=pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(
        _TEXT,
        count,
        [validity, pa.py_buffer(new_offsets), pa.py_buffer(out)],
        null_count=text.null_count,
    )


# Cell types whose text Arrow reads exactly as canonical_row_bytes writes it: str, and
# np.str_ (its str() is its own text). Other str subclasses may override __str__.
_PLAIN_TEXT = frozenset({str, np.str_, type(None)})


def _object_fragments_fast(values: np.ndarray, column: str) -> pa.Array:
    """Object cells: all-``str`` columns (with missing cells) in Arrow, others per cell."""
    kinds = set(map(type, values))
    missing = None
    if not kinds <= _PLAIN_TEXT:
        missing = pd.isna(values)  # NaN, pd.NA, NaT... are missing cells too
        if missing.any():
            kinds = set(map(type, values[~missing]))
            values = np.where(missing, None, values)
    if kinds <= _PLAIN_TEXT:  # None is missing: it becomes a null
        try:
            text = pa.array(values, type=_TEXT)
        except Exception:  # noqa: BLE001 - e.g. lone surrogates: the per-cell path reports
            text = None
        if text is not None:
            return _quote_strings(text)
    if missing is None:
        missing = pd.isna(values)
    return _as_text(_object_fragments(values.tolist(), missing.tolist(), column))


def _arrow_string_storage(series: pd.Series) -> pa.Array | None:
    """The Arrow array behind a pyarrow-backed string column, as large_string."""
    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype):
        arrow_backed = dtype.storage != "python"
    elif isinstance(dtype, pd.ArrowDtype):
        arrow_backed = pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(
            dtype.pyarrow_dtype
        )
    else:
        return None
    if not arrow_backed:
        return None
    try:
        array = pa.array(series.array)
    except Exception:  # noqa: BLE001 - fall back to the object path
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return pc.cast(array, _TEXT)


def _categorical_fragments(series: pd.Series, column: str) -> pa.Array:
    """Encode each used category once (in order of first use), then spread by code."""
    codes = np.asarray(series.cat.codes.to_numpy(), dtype=np.intp)  # -1: missing
    present = codes >= 0
    _, first = np.unique(codes, return_index=True)
    first_rows = np.sort(first[present[first]])
    # The same objects the per-cell path would see, so errors name the same first value.
    values = np.asarray(series.iloc[first_rows], dtype=object)
    encoded = _object_fragments_fast(values, column)
    slot = np.zeros(max(len(series.cat.categories), 1), dtype=np.intp)  # 0 for missing
    slot[codes[first_rows]] = np.arange(len(first_rows))
    return encoded.take(pa.array(slot[np.where(present, codes, 0)], mask=~present))


def _column_fragments(series: pd.Series, column: str) -> pa.Array:
    """JCS value text of every cell of one column (large_string; null = missing cell)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical_fragments(series, column)
    if ptypes.is_bool_dtype(dtype):
        if dtype == np.bool_:
            return _bool_text(series.to_numpy(), None)
        missing = series.isna().to_numpy(dtype=bool)
        values = series.to_numpy(dtype=np.bool_, na_value=False)
        return _bool_text(values, missing if missing.any() else None)
    if ptypes.is_integer_dtype(dtype):
        return _int_fragments(series, column)
    if ptypes.is_float_dtype(dtype):
        return _float_fragments(series, column)
    if ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype):
        stored = _arrow_string_storage(series)
        if stored is not None:
            return _quote_strings(stored)
        values = series.to_numpy(dtype=object)
        return _object_fragments_fast(values, column)
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


def _row_batches(frame: pd.DataFrame, columns: Sequence[str], prefix: str) -> Iterator[pa.Array]:
    """Canonical rows of ``frame`` as large_binary arrays of up to ``_ROW_BATCH`` rows,
    each row preceded by ``prefix``."""
    columns = _check_columns(frame, columns)
    # JCS orders object members by the UTF-16 code units of their keys.
    ordered = sorted(columns, key=lambda c: c.encode("utf-16be"))
    keys: list[str] = []
    values: list[pa.Array] = []
    for column in ordered:
        keys.append(_json_string(column, column).decode("utf-8") + ":")
        values.append(_column_fragments(frame[column], column))
    separators = [_text(prefix + "{" + keys[0])] + [_text("," + key) for key in keys[1:]]
    for start in range(0, len(frame), _ROW_BATCH):
        pieces: list[Any] = []
        for separator, fragments in zip(separators, values):
            pieces += (separator, fragments.slice(start, _ROW_BATCH))
        # A null fragment is a missing cell: the join writes it as JSON null.
        rows = pc.binary_join_element_wise(
            *pieces, _text("}"), _EMPTY, null_handling="replace", null_replacement="null"
        )
        yield rows.view(_BINARY)


def iter_canonical_rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[bytes]:
    """Yield the canonical row bytes of every row of ``frame``, keys = ``columns``.

    Missing cells (``pd.isna``: None, pd.NA, NaT, and float NaN, pandas' missing marker)
    become ``null``; ±inf raises ``E_COMMIT_NONFINITE`` naming the column. The bytes are
    identical to ``canonical_row_bytes`` of the same values (with NaN read as missing).
    """
    for batch in _row_batches(frame, columns, ""):
        yield from batch.to_pylist()


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


def _sorted_leaf_digests(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Leaf hashes of all rows as an (n, 32) uint8 array, rows sorted ascending."""
    hashed: list[bytes] = []
    for batch in _row_batches(frame, columns, "\x00"):  # leaf = SHA-256(0x00 || row)
        hashed.append(b"".join(map(_DIGEST, map(hashlib.sha256, batch.to_pylist()))))
    joined = b"".join(hashed)
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
