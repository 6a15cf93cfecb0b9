"""Numbers for the frame encoder: ECMAScript number text for floats, integers and booleans.

Arrow writes the same shortest round-trip digits as ECMAScript but switches to exponent
form earlier; the float path expands those exponents, and is used only while a probe of
every branch of Number::toString agrees with rfc8785 (``arrow_floats_are_ecmascript``).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import rfc8785

from hokusai_assets.lib.commitments.canonical import MAX_SAFE_INTEGER, NAN_POLICY_HINT
from hokusai_assets.lib.commitments.text import (
    EMPTY,
    QUOTE,
    TEXT,
    as_text,
    json_string,
    text_buffers,
    text_from_matrix,
    text_scalar,
)
from hokusai_assets.lib.errors import CommitmentError


def int_fragment(number: int, column: str) -> bytes:
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return str(number).encode("ascii")
    return json_string(str(number), column)


def first_label(series: pd.Series, mask: np.ndarray) -> Any:
    return series.index[int(np.flatnonzero(mask)[0])]


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
    offsets, data = text_buffers(text)
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
    return text_from_matrix(out, (~negative).astype(np.intp), lengths_out)


def _float_text_arrow(values: np.ndarray, missing: np.ndarray) -> pa.Array | None:
    """ECMAScript Number-to-String of finite doubles via Arrow's shortest formatting."""
    clean = np.where(missing | (values == 0), 0.0, values)  # -0.0 is written "0"
    mask = missing if missing.any() else None
    magnitude = np.abs(clean)
    # Integers below 2**53 are written as integers (their shortest digits are all their
    # digits), and integer text is much cheaper than shortest-float text.
    integral = (np.trunc(clean) == clean) & (magnitude < 2**53)
    if integral.all():
        return pc.cast(pa.array(clean.astype(np.int64), mask=mask), TEXT)
    text = pc.cast(pa.array(clean, mask=mask), TEXT)
    wide = (magnitude >= 1e10) & (magnitude < 1e21)
    if not wide.any():
        return text
    wide_integers = wide & integral  # e.g. epoch milliseconds, ids stored as floats
    if wide_integers.any():
        selected = pa.array(wide_integers)
        digits = pc.cast(pa.array(clean[wide_integers].astype(np.int64)), TEXT)
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
def arrow_floats_are_ecmascript() -> bool:
    """Guard for the fast float path: Arrow's float formatting is not a documented API."""
    probes = np.array(_FLOAT_PROBES + tuple(-x for x in _FLOAT_PROBES), dtype=np.float64)
    try:
        fast = _float_text_arrow(probes, np.zeros(len(probes), dtype=bool))
    except Exception:  # noqa: BLE001 - any failure means: do not use the fast path
        return False
    return fast is not None and fast.to_pylist() == [
        rfc8785.dumps(x).decode("ascii") for x in probes.tolist()
    ]


def float_fragments(series: pd.Series, column: str) -> pa.Array:
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
            f"{first_label(series, infinite)!r}). {NAN_POLICY_HINT}",
            code="E_COMMIT_NONFINITE",
        )
    missing = np.isnan(values)
    if arrow_floats_are_ecmascript():
        text = _float_text_arrow(values, missing)
        if text is not None:
            return text
    return as_text(_float_fragments_per_cell(values, missing))


# ---- integers and booleans


def _int_text(values: np.ndarray, missing: np.ndarray | None) -> pa.Array:
    """Decimal text of integers; beyond ±(2**53 - 1) as a JSON string."""
    if not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))
    text = pc.cast(pa.array(values, mask=missing), TEXT)
    if values.dtype.itemsize >= 8:  # narrower integers are always safe
        unsafe = values > MAX_SAFE_INTEGER
        if values.dtype.kind == "i":
            unsafe |= values < -MAX_SAFE_INTEGER
        if unsafe.any():
            mask = pa.array(unsafe)
            quoted = pc.binary_join_element_wise(QUOTE, text.filter(mask), QUOTE, EMPTY)
            text = pc.replace_with_mask(text, mask, quoted)
    return text


def int_fragments(series: pd.Series, column: str) -> pa.Array:
    dtype = series.dtype
    if isinstance(dtype, np.dtype):  # numpy ints cannot be missing
        return _int_text(series.to_numpy(), None)
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    missing = series.isna().to_numpy(dtype=bool)
    if numpy_dtype is not None and np.dtype(numpy_dtype).kind in "iu":
        values = series.to_numpy(dtype=np.dtype(numpy_dtype), na_value=0)
        return _int_text(values, missing if missing.any() else None)
    return as_text(
        [
            b"null" if m else int_fragment(int(v), column)
            for v, m in zip(series.to_numpy(dtype=object).tolist(), missing.tolist())
        ]
    )


def bool_text(values: np.ndarray, missing: np.ndarray | None) -> pa.Array:
    return pc.if_else(pa.array(values, mask=missing), text_scalar("true"), text_scalar("false"))
