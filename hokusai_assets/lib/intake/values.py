"""The values of ``int``, ``float`` and ``bool`` columns: one grammar, whatever the file format.

Text is read by the grammar below: a CSV cell, a JSON string, the literal of a JSON number
(``formats`` keeps it where the value alone would not tell), a Parquet string column, a
string in a table built in code. Surrounding ASCII whitespace is ignored.

* missing: an empty cell, or one of :data:`MISSING_TEXTS` (the spellings pyarrow's CSV reader
  has always read as missing, ``NA`` and ``NaN`` among them); like JSON ``null``.
* infinite: ``inf`` or ``infinity``, any case, with an optional sign. Not a value and never
  missing: it follows ``intake.nan_policy`` in every numeric column (``conform``).
* int: a decimal integer, optionally with a zero fraction, ``[+-]?[0-9]+(\\.0*)?``
  (``42``, ``-7``, ``+3``, ``007``, ``3.0``), within int64. Not ``0x10``, ``1e3``,
  ``1_000``, ``2.5``, ``true``. The zero fraction is accepted because pandas writes an
  integer column that has a missing value as floats (``3.0``) in CSV, JSON and Parquet alike.
* float: a finite decimal, ``[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?``, read
  as the nearest double (so the 17 significant digits Python writes come back exactly);
  one too large for a double (``1e400``) is refused, not read as infinity.
* bool: ``true`` or ``false`` in any case, or an int whose value is 0 or 1.

Typed values have no text and are read by value: an integer (Parquet, JSON, a table built
in code) must fit int64; a float given for an int must be whole and within int64 (a
Parquet float column of whole numbers is how pandas stores integers with gaps); NaN is
missing and ±inf infinite; a boolean is only ever a bool; dates, times, durations, binary,
lists, maps and structs are never numbers.

A number written with more than ``max_digits`` digits is refused before it is converted
(``intake.max_number_digits``): digits past a double's 17 carry nothing, and Python's
int parsing of a long literal takes time quadratic in its length.

Messages name the column and the rows (1-based, as a spreadsheet counts data rows), never
a cell's value: cells may hold personal data.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from hokusai_assets.lib.errors import DataFileError, SchemaError

ValueKind = Literal["int", "float", "bool"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# pyarrow's default CSV null spellings: what a numeric CSV cell meant "missing" before this grammar.
MISSING_TEXTS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
)
INT_TEXT = r"^[+-]?[0-9]+(\.0*)?$"
FLOAT_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_INFINITE_TEXT = r"(?i)^[+-]?inf(inity)?$"
_BOOL_WORD = r"(?i)^(true|false)$"
# The digits of an int without sign, leading zeros or zero fraction ("" for zero).
_SIGNIFICANT = (r"^[+-]?0*([0-9]*)(\.0*)?$", r"\1")
_INT64_LIMIT_TEXT = {False: str(INT64_MAX), True: str(-INT64_MIN)}
_TWO_63 = 2.0**63
_FLOAT_MAX = 1.7976931348623157e308

# How many offending row numbers a message quotes: enough to find them, not a dump.
_EXAMPLES_IN_MESSAGE = 3

_WHAT_IS_VALID = {
    "int": "whole numbers written in decimal (like 42 or -7)",
    "float": "finite decimal numbers (like 2.5, -0.1 or 1e-3)",
    "bool": "true/false or 1/0",
}


class NumberLiteral(float):
    """A JSON number that keeps the text it was written as.

    Its value is a float (so every other use of the cell sees what ``json`` gives), but a
    literal that a double cannot tell apart (``3.0`` and ``3.0000000000000001``,
    ``9007199254740993.0`` and ``9007199254740992``, ``1e400`` and infinity) is read for an
    ``int``, ``float`` or ``bool`` column by the text grammar, as a CSV cell would be.
    """

    __slots__ = ("text",)

    def __new__(cls, value: float, text: str) -> NumberLiteral:
        number = super().__new__(cls, value)
        number.text = text
        return number


def row_numbers(mask: np.ndarray) -> str:
    """The first rows where ``mask`` holds, 1-based, as a message quotes them ("2, 5 and 3 more")."""
    rows = (np.flatnonzero(mask)[:_EXAMPLES_IN_MESSAGE] + 1).tolist()
    more = int(mask.sum()) - len(rows)
    text = ", ".join(str(r) for r in rows)
    return f"{text} and {more} more" if more > 0 else text


def digit_count(text: str) -> int:
    return sum(c.isdigit() for c in text)


@dataclass
class ParsedValues:
    """A column read by the grammar: ``values`` (int64, float64 or bool; 0 where not a value)
    and which rows are missing or infinite (where infinite, a float's ``values`` hold the
    ±inf and an int's the sign, ±1)."""

    kind: ValueKind
    values: np.ndarray
    missing: np.ndarray
    infinite: np.ndarray

    def series(self, index: pd.Index | None = None) -> pd.Series:
        """The values with missing and infinite rows as missing (Int64, boolean); a float keeps ±inf."""
        if self.kind == "float":
            return pd.Series(np.where(self.missing, np.nan, self.values), index=index, dtype="float64")
        values = pd.array(self.values, dtype="Int64" if self.kind == "int" else "boolean")
        absent = self.missing | self.infinite
        if absent.any():
            values[absent] = pd.NA
        return pd.Series(values, index=index)

    def raw_series(self, index: pd.Index | None = None) -> pd.Series:
        """The column as a parsed table holds it: like :meth:`series`, but infinities kept.

        An int column that holds an infinity is an object column (Python ints, None, ±inf):
        rare, and ``conform`` must still see the infinity to apply ``intake.nan_policy``.
        """
        if self.kind == "int" and self.infinite.any():
            cells = [
                None if m else (math.copysign(math.inf, v) if i else int(v))
                for v, m, i in zip(self.values, self.missing, self.infinite)
            ]
            return pd.Series(cells, index=index, dtype=object)
        if self.kind in ("int", "bool") and not self.missing.any():
            return pd.Series(self.values, index=index, dtype="int64" if self.kind == "int" else "bool")
        return self.series(index)


@dataclass
class _Reading:
    """What reading a set of cells found; problems are (reason, rows) in the order found."""

    values: np.ndarray
    missing: np.ndarray
    infinite: np.ndarray
    problems: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls, kind: ValueKind, n: int) -> _Reading:
        dtype = {"int": np.int64, "float": np.float64, "bool": np.bool_}[kind]
        return cls(np.zeros(n, dtype=dtype), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))

    def flag(self, reason: str, mask: np.ndarray) -> None:
        if mask.any():
            earlier = self.problems.get(reason)
            self.problems[reason] = mask if earlier is None else earlier | mask

    def place(self, part: _Reading, positions: np.ndarray) -> None:
        """Write ``part`` (the reading of the cells at ``positions``) into this one."""
        self.values[positions] = part.values
        self.missing[positions] = part.missing
        self.infinite[positions] = part.infinite
        for reason, mask in part.problems.items():
            full = np.zeros(len(self.values), dtype=bool)
            full[positions] = mask
            self.flag(reason, full)


def _numpy(array: pa.Array | pa.ChunkedArray, null_as: Any = False) -> np.ndarray:
    return pc.fill_null(array, null_as).to_numpy(zero_copy_only=False)


# ---- text


def _read_texts(texts: pa.Array | pa.ChunkedArray, kind: ValueKind, max_digits: int | None) -> _Reading:
    """The grammar over an Arrow string array, vectorised (RE2 and Arrow casts, no Python per cell)."""
    texts = pc.ascii_trim_whitespace(texts.cast(pa.string()) if texts.type != pa.string() else texts)
    n = len(texts)
    reading = _Reading.empty(kind, n)
    missing = _numpy(pc.or_kleene(pc.is_null(texts), pc.is_in(texts, value_set=pa.array(MISSING_TEXTS))), True)
    written = _numpy(pc.match_substring_regex(texts, FLOAT_TEXT if kind == "float" else INT_TEXT)) & ~missing
    rest = ~(written | missing)
    # Only what is neither a number nor missing can be an infinity (none, in most files).
    infinite = _numpy(pc.match_substring_regex(texts, _INFINITE_TEXT)) & rest if rest.any() else np.zeros(n, dtype=bool)
    if max_digits is not None:
        _flag_long_numbers(reading, texts, written, max_digits)
        if "too_many_digits" in reading.problems:
            written &= ~reading.problems["too_many_digits"]
    reading.missing = missing
    if kind == "float":
        safe = texts if written.all() else pc.if_else(pa.array(written), texts, "0")
        values = _numpy(pc.cast(safe, pa.float64()), 0.0)
        overflow = written & np.isinf(values)
        reading.flag("out_of_range", overflow)
        values = np.where(written & ~overflow, values, 0.0)
        if infinite.any():
            values = np.where(infinite, np.where(_numpy(pc.starts_with(texts, "-")), -np.inf, np.inf), values)
        reading.values = values
        reading.infinite = infinite
        reading.flag("not_valid", ~(written | missing | infinite))
        return reading
    significant = pc.replace_substring_regex(
        texts if written.all() else pc.if_else(pa.array(written), texts, "0"), *_SIGNIFICANT
    )
    negative = _numpy(pc.starts_with(texts, "-"))
    length = _numpy(pc.binary_length(significant), 0)
    over = written & (length > 19)
    at_limit = written & (length == 19)
    if at_limit.any():
        limit = pc.if_else(pa.array(negative), _INT64_LIMIT_TEXT[True], _INT64_LIMIT_TEXT[False])
        over |= at_limit & _numpy(pc.greater(significant, limit))
    in_range = written & ~over
    digits = significant if (in_range & (length > 0)).all() else pc.if_else(
        pa.array(in_range & (length > 0)), significant, "0"
    )
    magnitude = _numpy(pc.cast(digits, pa.uint64()), 0)
    numbers = magnitude.astype(np.int64)  # 2**63 wraps to INT64_MIN: only ever negated, which it stays
    with np.errstate(over="ignore"):
        numbers = np.where(negative, -numbers, numbers)
    if kind == "int":
        reading.values = np.where(in_range, numbers, 0)
        if infinite.any():
            reading.values = np.where(infinite, np.where(negative, -1, 1), reading.values)
        reading.infinite = infinite
        reading.flag("out_of_range", over)
        unwritten = rest & ~infinite
        other_number = _numpy(pc.match_substring_regex(texts, FLOAT_TEXT)) & unwritten if unwritten.any() else unwritten
        reading.flag("fraction", other_number)
        reading.flag("not_valid", ~(written | missing | infinite | other_number))
        return reading
    word = _numpy(pc.match_substring_regex(texts, _BOOL_WORD))
    truth = _numpy(pc.equal(pc.utf8_lower(texts), "true"))
    zero_or_one = in_range & ((numbers == 0) | (numbers == 1))
    reading.values = np.where(word, truth, zero_or_one & (numbers == 1))
    reading.flag("not_valid", ~(word | zero_or_one | missing))
    return reading


def _flag_long_numbers(reading: _Reading, texts: pa.Array | pa.ChunkedArray, written: np.ndarray, max_digits: int) -> None:
    # The byte length is a cheap upper bound on the digits; only cells longer than the limit are counted.
    long = written & (_numpy(pc.binary_length(texts), 0) > max_digits)
    if not long.any():
        return
    positions = np.flatnonzero(long)
    cells = texts.take(pa.array(positions)).to_pylist()
    too_long = np.zeros(len(written), dtype=bool)
    too_long[positions] = [digit_count(cell) > max_digits for cell in cells]
    reading.flag("too_many_digits", too_long)


# ---- typed values


def _read_numbers(values: np.ndarray, null: np.ndarray, kind: ValueKind) -> _Reading:
    """Integers, floats or booleans (a NumPy array; ``null`` where absent), by value."""
    n = len(values)
    reading = _Reading.empty(kind, n)
    reading.missing = null.copy()
    present = ~null
    if values.dtype == np.bool_:
        if kind == "bool":
            reading.values = np.where(present, values, False)
        else:
            reading.flag("booleans", present)
        return reading
    if values.dtype.kind in "iu":
        if kind == "float":
            reading.values = np.where(present, values, 0).astype(np.float64)
            return reading
        over = present & (values > np.uint64(INT64_MAX)) if values.dtype == np.uint64 else np.zeros(n, dtype=bool)
        numbers = np.where(present & ~over, values, 0).astype(np.int64)
        if kind == "int":
            reading.values = numbers
            reading.flag("out_of_range", over)
            return reading
        zero_or_one = present & ~over & ((numbers == 0) | (numbers == 1))
        reading.values = zero_or_one & (numbers == 1)
        reading.flag("not_valid", present & ~zero_or_one)
        return reading
    floats = values.astype(np.float64)
    nan = np.isnan(floats)
    reading.missing = null | nan
    finite = present & ~nan & np.isfinite(floats)
    infinite = present & ~nan & ~finite
    if kind == "float":
        reading.values = np.where(reading.missing, 0.0, floats)
        reading.infinite = infinite
        return reading
    safe = np.where(finite, floats, 0.0)
    whole = finite & (safe == np.floor(safe))
    in_range = whole & (safe >= -_TWO_63) & (safe < _TWO_63)
    numbers = np.where(in_range, safe, 0.0).astype(np.int64)
    if kind == "int":
        reading.values = np.where(infinite, np.sign(np.where(infinite, floats, 0.0)).astype(np.int64), numbers)
        reading.infinite = infinite
        reading.flag("fraction", finite & ~whole)
        reading.flag("out_of_range", whole & ~in_range)
        return reading
    zero_or_one = in_range & ((numbers == 0) | (numbers == 1))
    reading.values = zero_or_one & (numbers == 1)
    reading.flag("not_valid", (finite | infinite) & ~zero_or_one)
    return reading


def _type_reason(arrow_type: pa.DataType) -> str:
    if pa.types.is_temporal(arrow_type):
        return "dates_or_times"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type) or pa.types.is_fixed_size_binary(arrow_type):
        return "binary"
    if pa.types.is_nested(arrow_type):
        return "nested"
    return "other_type"


def _read_arrow(array: pa.Array | pa.ChunkedArray, kind: ValueKind, max_digits: int | None) -> _Reading:
    kind_of = array.type
    if pa.types.is_dictionary(kind_of):
        return _read_arrow(pc.cast(array, kind_of.value_type), kind, max_digits)
    if pa.types.is_null(kind_of):
        reading = _Reading.empty(kind, len(array))
        reading.missing[:] = True
        return reading
    if pa.types.is_string(kind_of) or pa.types.is_large_string(kind_of):
        return _read_texts(array, kind, max_digits)
    if pa.types.is_decimal(kind_of):  # exact: read its decimal text like any other
        return _read_texts(pc.cast(array, pa.string()), kind, max_digits)
    null = _numpy(pc.is_null(array), True)
    if pa.types.is_boolean(kind_of):
        return _read_numbers(_numpy(array, False).astype(bool), null, kind)
    if pa.types.is_integer(kind_of):
        return _read_numbers(_numpy(array, 0), null, kind)
    if pa.types.is_floating(kind_of):
        return _read_numbers(_numpy(pc.cast(array, pa.float64()), 0.0), null, kind)
    reading = _Reading.empty(kind, len(array))
    reading.missing = null
    reading.flag(_type_reason(kind_of), ~null)
    return reading


def _object_reason(value: Any) -> str:
    if isinstance(value, (dt.date, dt.time, dt.timedelta, np.datetime64, np.timedelta64)):
        return "dates_or_times"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "binary"
    if isinstance(value, _NESTED):
        return "nested"
    return "other_type"


def _read_objects(cells: Sequence[Any], kind: ValueKind, max_digits: int | None) -> _Reading:
    """Python values of any type (JSON records, an object column): each group by its own rule."""
    n = len(cells)
    reading = _Reading.empty(kind, n)
    groups: dict[str, list[tuple[int, Any]]] = {"text": [], "int": [], "float": [], "bool": []}
    odd: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        if cell is None:
            reading.missing[i] = True
        elif isinstance(cell, str):
            groups["text"].append((i, cell))
        elif isinstance(cell, NumberLiteral):
            groups["text"].append((i, cell.text))
        elif isinstance(cell, (bool, np.bool_)):
            groups["bool"].append((i, bool(cell)))
        elif isinstance(cell, (int, np.integer)):
            if INT64_MIN <= cell <= INT64_MAX:
                groups["int"].append((i, int(cell)))
            elif kind == "float" and abs(cell) <= _FLOAT_MAX:
                groups["float"].append((i, float(cell)))
            else:
                odd.setdefault("out_of_range" if kind != "bool" else "not_valid", []).append(i)
        elif isinstance(cell, (float, np.floating)):
            groups["float"].append((i, float(cell)))
        elif isinstance(cell, decimal.Decimal):
            groups["text"].append((i, str(cell)))
        elif _is_missing_scalar(cell):
            reading.missing[i] = True
        else:
            odd.setdefault(_object_reason(cell), []).append(i)
    for group, members in groups.items():
        if not members:
            continue
        positions, values = zip(*members)
        if group == "text":
            part = _read_texts(pa.array(values, type=pa.string()), kind, max_digits)
        else:
            array = np.array(values, dtype={"int": np.int64, "float": np.float64, "bool": np.bool_}[group])
            part = _read_numbers(array, np.zeros(len(array), dtype=bool), kind)
        reading.place(part, np.array(positions))
    for reason, positions in odd.items():
        mask = np.zeros(n, dtype=bool)
        mask[positions] = True
        reading.flag(reason, mask)
    return reading


def _is_missing_scalar(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _read_series(series: pd.Series, kind: ValueKind, max_digits: int | None) -> _Reading:
    dtype = series.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return _read_arrow(pa.array(series.array), kind, max_digits)
    if isinstance(dtype, pd.CategoricalDtype):
        return _read_objects(series.astype(object).tolist(), kind, max_digits)
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return _read_texts(pa.array(series, type=pa.string(), from_pandas=True), kind, max_digits)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        null = series.isna().to_numpy()
        if pd.api.types.is_extension_array_dtype(dtype):
            fill = False if pd.api.types.is_bool_dtype(dtype) else 0
            values = series.to_numpy(dtype=dtype.numpy_dtype, na_value=fill)
        else:
            values = series.to_numpy()
            if values.dtype.kind == "f":
                null = np.zeros(len(values), dtype=bool)  # NaN is read by value: missing
        return _read_numbers(values, null, kind)
    if pd.api.types.is_object_dtype(dtype):
        cells = series.tolist()
        if pd.api.types.infer_dtype(series, skipna=True) == "string":
            return _read_texts(pa.array(cells, type=pa.string(), from_pandas=True), kind, max_digits)
        return _read_objects(cells, kind, max_digits)
    reading = _Reading.empty(kind, len(series))
    reading.missing = series.isna().to_numpy()
    reading.flag("dates_or_times" if series.dtype.kind in "mM" else "other_type", ~reading.missing)
    return reading


def parse_values(
    cells: pd.Series | pa.Array | pa.ChunkedArray | Sequence[Any],
    kind: ValueKind,
    *,
    column: str,
    source: str,
    max_digits: int | None = None,
) -> ParsedValues:
    """Read the cells of an ``int``, ``float`` or ``bool`` column by the grammar (module docstring).

    ``cells`` is a pandas Series, an Arrow array or a list of Python values. Raises a
    ``SchemaError`` (``E_SCHEMA_TYPE``) naming the column and rows of the first kind of
    problem found, or a ``DataFileError`` (``E_DATA_NUMBER_TOO_LONG``) for a number longer
    than ``max_digits`` digits.
    """
    if isinstance(cells, (pa.Array, pa.ChunkedArray)):
        reading = _read_arrow(cells, kind, max_digits)
    elif isinstance(cells, pd.Series):
        reading = _read_series(cells, kind, max_digits)
    else:
        reading = _read_objects(list(cells), kind, max_digits)
    _raise_first_problem(reading, kind, column, source, max_digits)
    return ParsedValues(kind, reading.values, reading.missing, reading.infinite)


def refuse_nested(cells: Sequence[Any], kind: str, *, column: str, source: str) -> None:
    """A cell of any column holds one value: a list or an object (JSON, Parquet) has no
    number and no text of its own, so it is refused, naming the column and rows."""
    nested = np.fromiter((isinstance(c, _NESTED) for c in cells), dtype=bool, count=len(cells))
    if nested.any():
        raise nested_cells(nested, kind, column=column, source=source)


def nested_cells(rows: np.ndarray, kind: str, *, column: str, source: str) -> SchemaError:
    return SchemaError(
        f"{source}: column '{column}' is declared {kind} but rows {row_numbers(rows)} hold lists or objects "
        "instead of single values; give one value per cell, or remove the rows",
        code="E_SCHEMA_TYPE",
    )


_NESTED = (list, tuple, dict, set, np.ndarray)


def _raise_first_problem(reading: _Reading, kind: ValueKind, column: str, source: str, max_digits: int | None) -> None:
    if "too_many_digits" in reading.problems:
        rows = row_numbers(reading.problems["too_many_digits"])
        raise DataFileError(
            f"{source}: column '{column}' has numbers of more than {max_digits} digits in rows {rows} "
            "(intake.max_number_digits); round them (a double keeps 17 significant digits) or raise the limit",
            code="E_DATA_NUMBER_TOO_LONG",
        )
    if not reading.problems:
        return
    reason, mask = next(iter(reading.problems.items()))
    rows = row_numbers(mask)
    held = {
        "booleans": "true/false values, which are not numbers",
        "dates_or_times": "dates or times, which are not numbers",
        "binary": "binary values",
        "nested": "lists or objects instead of single values",
        "other_type": "values that are not numbers",
    }
    if reason == "fraction":
        what = "hold fractional values or numbers in exponent notation"
        fix = "declare it float in hokusai.yaml or write whole numbers in decimal (like 42)"
    elif reason == "out_of_range" and kind == "float":
        what = "hold numbers too large for a 64-bit float"
        fix = "fix those cells or remove the rows"
    elif reason == "out_of_range":
        what = f"hold whole numbers outside the 64-bit range ({INT64_MIN} to {INT64_MAX})"
        fix = "such values cannot be kept exactly; fix those cells or remove the rows"
    elif reason == "not_valid":
        what = f"do not hold {_WHAT_IS_VALID[kind]}"
        fix = "fix those cells or remove the rows"
    else:
        what = f"hold {held[reason]}"
        fix = f"give {_WHAT_IS_VALID[kind]}, or remove the rows"
    raise SchemaError(f"{source}: column '{column}' is declared {kind} but rows {rows} {what}; {fix}", code="E_SCHEMA_TYPE")
