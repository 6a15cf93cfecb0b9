"""Canonical rows of whole frames, column-wise: the vectorised path to ``canonical_row_bytes``.

The frame path is vectorised: each column becomes one Arrow ``large_string`` array of
RFC 8785 value texts (a null item is a missing cell), built with numpy and Arrow
kernels with no Python call per cell; Arrow then joins the columns row-wise with their
keys, writing nulls as ``null``. Every fragment is byte-identical to ``rfc8785.dumps``
of the cell's canonical value; the tests check this against rfc8785 itself, row by
row, on random frames. Columns outside the fast paths (mixed-type object columns,
unusual extension dtypes) take the per-cell path below, the definition the fast paths
reproduce. Hashing stays with hashlib, one C call per row (no Python loop).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import rfc8785
from pandas.api import types as ptypes

from hokusai_assets.lib.commitments.canonical import to_canonical_value
from hokusai_assets.lib.commitments.numbers import bool_text, float_fragments, int_fragments
from hokusai_assets.lib.commitments.text import BINARY, EMPTY, TEXT, as_text, json_string, quote_strings, text_scalar
from hokusai_assets.lib.errors import CommitmentError

ROW_BATCH = 1 << 16  # rows joined (and hashed) at a time: bounded memory, warm caches


def object_fragments(values: Sequence[Any], missing: Sequence[bool], column: str) -> list[bytes]:
    out: list[bytes] = []
    for value, is_missing in zip(values, missing):
        if is_missing:
            out.append(b"null")
        elif type(value) is str:  # the common case, skip the general dispatch
            out.append(json_string(value, column))
        else:
            try:
                canonical = to_canonical_value(value)
            except CommitmentError as exc:
                raise CommitmentError(f"Column {column!r}: {exc.message}", code=exc.code) from exc
            if isinstance(canonical, str):
                out.append(json_string(canonical, column))
            else:
                out.append(rfc8785.dumps(canonical))
    return out



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
            text = pa.array(values, type=TEXT)
        except Exception:  # noqa: BLE001 - e.g. lone surrogates: the per-cell path reports
            text = None
        if text is not None:
            return quote_strings(text)
    if missing is None:
        missing = pd.isna(values)
    return as_text(object_fragments(values.tolist(), missing.tolist(), column))


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
    return pc.cast(array, TEXT)


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
            return bool_text(series.to_numpy(), None)
        missing = series.isna().to_numpy(dtype=bool)
        values = series.to_numpy(dtype=np.bool_, na_value=False)
        return bool_text(values, missing if missing.any() else None)
    if ptypes.is_integer_dtype(dtype):
        return int_fragments(series, column)
    if ptypes.is_float_dtype(dtype):
        return float_fragments(series, column)
    if ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype):
        stored = _arrow_string_storage(series)
        if stored is not None:
            return quote_strings(stored)
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


def row_batches(frame: pd.DataFrame, columns: Sequence[str], prefix: str) -> Iterator[pa.Array]:
    """Canonical rows of ``frame`` as large_binary arrays of up to ``ROW_BATCH`` rows,
    each row preceded by ``prefix``."""
    columns = _check_columns(frame, columns)
    # JCS orders object members by the UTF-16 code units of their keys.
    ordered = sorted(columns, key=lambda c: c.encode("utf-16be"))
    keys: list[str] = []
    values: list[pa.Array] = []
    for column in ordered:
        keys.append(json_string(column, column).decode("utf-8") + ":")
        values.append(_column_fragments(frame[column], column))
    separators = [text_scalar(prefix + "{" + keys[0])] + [text_scalar("," + key) for key in keys[1:]]
    for start in range(0, len(frame), ROW_BATCH):
        pieces: list[Any] = []
        for separator, fragments in zip(separators, values):
            pieces += (separator, fragments.slice(start, ROW_BATCH))
        # A null fragment is a missing cell: the join writes it as JSON null.
        rows = pc.binary_join_element_wise(
            *pieces, text_scalar("}"), EMPTY, null_handling="replace", null_replacement="null"
        )
        yield rows.view(BINARY)


def iter_canonical_rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[bytes]:
    """Yield the canonical row bytes of every row of ``frame``, keys = ``columns``.

    Missing cells (``pd.isna``: None, pd.NA, NaT, and float NaN, pandas' missing marker)
    become ``null``; ±inf raises ``E_COMMIT_NONFINITE`` naming the column. The bytes are
    identical to ``canonical_row_bytes`` of the same values (with NaN read as missing).
    """
    for batch in row_batches(frame, columns, ""):
        yield from batch.to_pylist()
