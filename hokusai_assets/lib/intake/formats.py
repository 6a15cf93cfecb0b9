"""Reading contributed and reference tables: CSV, JSON (array or JSON Lines), Parquet.

The format is decided by the file name's extension, never guessed from content, so a
contributor always knows how a file will be read. Within CSV we do sniff what people
really send: UTF-8 with or without a byte-order mark, else Latin-1, and the delimiter
(comma, semicolon, tab or pipe). Every failure is a ``DataFileError`` that names the file
and says what to do; messages never quote cell contents, which may be personal data.

The columns of ``category`` and ``text`` features (``text_columns``) are handed over as
text, in every format, before the PII scan sees them: a CSV cell exactly as written (no
type inference, so ``02134`` keeps its leading zero and ``7.0`` stays ``"7.0"``); a JSON
or Parquet number, which has no text of its own, as its JSON text (``7`` and ``7.0`` are
``"7"``: see ``lib.feature_values``), also where a Parquet integer column has nulls.

The task's ``int``, ``float`` and ``bool`` columns (``numeric_columns``) are read by one
value grammar in every format (``lib.intake.values``): a CSV cell, a JSON string and the
literal of a JSON number as text (``0x10``, ``1e3`` and ``true`` are not ints), Parquet
columns by value; what does not fit is refused naming the column and rows. The parser
limits of :class:`ParseRules` (``intake.max_columns`` and the others) are checked on the
bytes before a structure is built (``lib.intake.structure``): a header's width before
pyarrow reads it, JSON nesting before Python's recursive parser walks it, a number's
digits before Python converts it, a Parquet file's rows and what it unpacks to from its
footer before a page is read.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hokusai_assets.lib.errors import DataFileError, HokusaiError
from hokusai_assets.lib.feature_values import value_text
from hokusai_assets.lib.intake.structure import csv_header_fields, detect_delimiter, json_depth, parquet_leaves
from hokusai_assets.lib.intake.values import (
    NumberLiteral,
    ValueKind,
    digit_count,
    nested_cells,
    parse_values,
    refuse_nested,
    row_numbers,
)

_SNIFF_BYTES = 64 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_MAX_BLOCK_BYTES = 2**31 - 1  # pyarrow's block size is an int32
# A Parquet file may unpack to this many times intake.max_file_bytes in memory (its pages
# decompressed, its numbers at their width, its dictionary-encoded texts expanded): room for
# the 3 to 5 times that compression and encoding usually win, refusing a decompression bomb.
PARQUET_EXPANSION = 8
_CHUNK_SLACK = 1024 * 1024  # a Parquet column chunk's headers, levels and indices, beyond its values


@dataclass(frozen=True)
class ParseRules:
    """How far a parser may be asked to go, and how header names are read: ``intake.*``.

    Each limit is checked before (or while) the structure it bounds is built, and a file
    over one is refused naming the setting: ``max_columns`` (header fields, JSON keys,
    Parquet columns), ``max_cell_bytes`` (a text or binary cell, or a column name, in
    UTF-8 bytes), ``max_number_digits`` (the digits of one number), ``max_json_depth``
    (arrays and objects inside one another, the outer array of a .json file included),
    ``max_rows`` (a Parquet file's from its footer, before a column is read; JSON Lines
    while reading; CSV and JSON once parsed, before the frame is built: their size is
    bounded by the file's). ``max_file_bytes`` bounds what a Parquet file may unpack to:
    :data:`PARQUET_EXPANSION` times it, measured from the footer before a page is
    decompressed, and from the dictionaries before a dictionary-encoded text is expanded.
    ``trim_headers`` strips surrounding whitespace from column names; without it a task
    column found only with spaces around it is reported as such (``conform``).
    """

    max_columns: int = 1_000
    max_cell_bytes: int = 1024 * 1024
    max_number_digits: int = 100
    max_json_depth: int = 32
    max_rows: int = 5_000_000
    max_file_bytes: int = 256 * 1024 * 1024
    trim_headers: bool = False


@dataclass(frozen=True)
class _TaskColumns:
    """The columns a reader hands over typed: ``text`` as text, ``numbers`` by the value grammar."""

    text: frozenset[str]
    numbers: dict[str, ValueKind]


FORMATS_BY_SUFFIX = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def detect_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS_BY_SUFFIX[suffix]
    except KeyError:
        supported = ", ".join(sorted(FORMATS_BY_SUFFIX))
        raise DataFileError(
            f"{Path(path).name}: unsupported file type {suffix or '(no extension)'!r}; "
            f"save the data as one of {supported}",
            code="E_FORMAT_UNSUPPORTED",
        ) from None


def shown_columns(names: list[str]) -> str:
    """Column names for a message, quoted; PII in a name is masked by its kind (``'<email>'``):
    a name is whatever the file's author wrote, and messages reach logs and the run database."""
    from hokusai_assets.lib.intake.pii.scanner import pseudonymise_names

    masked = pseudonymise_names(names, None)
    return ", ".join(repr(masked.get(str(n), str(n))) for n in names)


def require_unique_columns(names: list[str], name: str) -> None:
    """Every column of a table has its own name: a repeated one would silently shadow the other.

    Checked where a file's header is read and again where any table is conformed to the
    task (a frame built in code can repeat a name too); ``name`` is the file or table.
    """
    names = [str(n) for n in names]
    duplicated = sorted(n for n, count in Counter(names).items() if count > 1)  # linear: a header can be long
    if duplicated:
        raise DataFileError(
            f"{name}: column name(s) {shown_columns(duplicated)} appear more than once; "
            "give every column a unique name",
            code="E_FORMAT_DUPLICATE_COLUMN",
        )


def sniff_csv(head: bytes, complete: bool) -> tuple[str, str]:
    """(encoding, delimiter) of a CSV file from its first bytes (``complete``: they are the whole file).

    UTF-8 with or without a byte-order mark, else Latin-1; the delimiter by the rule of
    ``lib.intake.structure`` (the comma unless another one is clearly meant).
    """
    if head.startswith(_UTF8_BOM):
        encoding, text = "utf8", head[len(_UTF8_BOM) :].decode("utf-8", errors="ignore")
    else:
        try:
            # A multi-byte character may be cut at the end of the sample: ignore only that.
            text = head.decode("utf-8") if complete else head[:-4].decode("utf-8")
            encoding = "utf8"
        except UnicodeDecodeError:
            encoding, text = "latin-1", head.decode("latin-1")
    return encoding, detect_delimiter(text, complete)


def _too_many_columns(name: str, count: int, limit: int, exact: bool = True) -> DataFileError:
    counted = f"the file has {count:,} columns, more than" if exact else "the header has more columns than"
    return DataFileError(
        f"{name}: {counted} the limit of {limit:,} (intake.max_columns); "
        "keep the task's columns (and few others), or raise the limit",
        code="E_DATA_TOO_MANY_COLUMNS",
    )


def _too_many_rows(name: str, count: int, limit: int, exact: bool = True) -> DataFileError:
    counted = f"{count:,} rows is over" if exact else "the file has more rows than"
    return DataFileError(
        f"{name}: {counted} the limit of {limit:,} (intake.max_rows); split the file, or raise the limit",
        code="E_DATA_TOO_MANY_ROWS",
    )


def _cell_too_large(name: str, what: str, limit: int, where: str = "") -> DataFileError:
    return DataFileError(
        f"{name}: {what} more than {limit:,} bytes{where} (intake.max_cell_bytes); "
        "shorten those values or leave them out, or raise the limit",
        code="E_DATA_CELL_TOO_LARGE",
    )


def _header(names: list, name: str, rules: ParseRules) -> list[str]:
    """The column names as the table holds them: trimmed with ``intake.trim_headers``, each
    unique, none longer than a cell may be, at most ``intake.max_columns`` of them."""
    names = [str(n) for n in names]
    if len(names) > rules.max_columns:
        raise _too_many_columns(name, len(names), rules.max_columns)
    if rules.trim_headers:
        names = [n.strip() for n in names]
    if any(len(n) * 4 > rules.max_cell_bytes and len(n.encode("utf-8", "surrogatepass")) > rules.max_cell_bytes for n in names):
        raise _cell_too_large(name, "a column name is", rules.max_cell_bytes)
    require_unique_columns(names, name)
    return names


def _is_bytes(kind) -> bool:
    import pyarrow as pa

    return (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind))


def _check_cell_sizes(table, name: str, limit: int) -> None:
    """Refuse text or binary cells over ``limit`` bytes, naming the column and rows; a
    dictionary-encoded column by the entries its rows refer to, before it is expanded."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for column, field in zip(table.column_names, table.schema):
        kind = field.type
        if _is_bytes(kind):
            sizes = pc.binary_length(table.column(column))
        elif pa.types.is_dictionary(kind) and _is_bytes(kind.value_type) and table.column(column).num_chunks:
            sizes = pa.chunked_array(
                [pc.take(pc.binary_length(chunk.dictionary), chunk.indices) for chunk in table.column(column).chunks]
            )
        else:
            continue
        largest = pc.max(sizes).as_py()
        if largest is not None and largest > limit:
            over = pc.fill_null(pc.greater(sizes, limit), False).to_numpy(zero_copy_only=False)
            raise _cell_too_large(
                name, f"column {shown_columns([column])} has cells of", limit, f" in rows {row_numbers(over)}"
            )


def _to_pandas(table) -> pd.DataFrame:
    """The table as pandas, by its pandas metadata when that is readable, else without it.

    The metadata (the ``b"pandas"`` key) is optional: it only restores the index and
    pandas dtypes. Damaged, it would make a file whose columns are fine unreadable.
    """
    if table.num_columns == 0:
        return pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    try:
        return table.to_pandas()
    except Exception:  # whatever the damaged metadata makes pandas raise
        metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"pandas"}
        return table.replace_schema_metadata(metadata).to_pandas()


def _table_frame(table, name: str, wanted: _TaskColumns, rules: ParseRules) -> pd.DataFrame:
    """An Arrow table as the frame ``parse_table`` returns: the task's numeric columns by the
    value grammar, its category and text columns as text, the rest as pandas reads them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for column in wanted.text:
        if column in table.column_names and pa.types.is_nested(table.schema.field(column).type):
            present = pc.is_valid(table.column(column)).to_numpy(zero_copy_only=False)
            if present.any():
                raise nested_cells(present, "category or text", column=column, source=name)
    numbers = {c: wanted.numbers[c] for c in table.column_names if c in wanted.numbers}
    parsed = {
        c: parse_values(table.column(c), kind, column=c, source=name, max_digits=rules.max_number_digits)
        for c, kind in numbers.items()
    }
    frame = _to_pandas(table.drop_columns(list(numbers)))
    for column in wanted.text:
        if column in frame.columns:
            kind = table.schema.field(column).type
            if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
                values = table.column(column).to_pylist()  # Python ints: no float64 on the way
                frame[column] = pd.Series([value_text(v) for v in values], index=frame.index, dtype=object)
    if parsed:
        typed = pd.DataFrame({c: p.raw_series() for c, p in parsed.items()}).set_axis(frame.index)
        frame = pd.concat([frame, typed], axis=1)
        frame = frame[[c for c in table.column_names if c in frame.columns]]
    return frame


def _read_csv(data: bytes, name: str, wanted: _TaskColumns, rules: ParseRules) -> pd.DataFrame:
    import pyarrow as pa

    head = data[:_SNIFF_BYTES]
    if not head.strip():
        raise DataFileError(f"{name}: the file is empty; it needs a header row and data rows", code="E_FORMAT_EMPTY")
    if b"\x00" in data:
        raise DataFileError(
            f"{name}: the file contains NUL bytes, so it is binary, not CSV text; export the data as CSV",
            code="E_FORMAT_BINARY",
        )
    encoding, delimiter = sniff_csv(head, complete=len(data) <= _SNIFF_BYTES)
    fields, header_end = csv_header_fields(data, delimiter, rules.max_columns)
    if fields > rules.max_columns:  # before pyarrow builds them: 100,000 columns cost minutes and gigabytes
        raise _too_many_columns(name, fields, rules.max_columns, exact=False)
    # The task's columns are read as text, typed by the value grammar below: pyarrow's own
    # inference reads 0x10 as 16 and an integer column with gaps as float64.
    typed = set(wanted.text) | set(wanted.numbers)
    if rules.trim_headers:  # the names as written, to give the padded ones their types too
        header = data[:header_end] + b"\n"
        written = _parse_csv(header, encoding, delimiter, {}, name).column_names
        column_types = {c: pa.string() for c in written if c.strip() in typed}
    else:
        column_types = {c: pa.string() for c in typed}
    table = _parse_csv(data, encoding, delimiter, column_types, name)
    if table.num_rows > rules.max_rows:  # pyarrow's table is bounded by the file; the frame is not built yet
        raise _too_many_rows(name, table.num_rows, rules.max_rows)
    table = table.rename_columns(_header(table.column_names, name, rules))
    if len(data) > rules.max_cell_bytes:  # else no cell can be
        _check_cell_sizes(table, name, rules.max_cell_bytes)
    return _table_frame(table, name, wanted, rules)


def _parse_csv(data: bytes, encoding: str, delimiter: str, column_types: dict, name: str):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def read(block_size: int | None, invalid_row_handler=None):
        options = {"encoding": encoding} | ({} if block_size is None else {"block_size": block_size})
        return pacsv.read_csv(
            pa.BufferReader(data),
            # pyarrow numbers a ragged row only when it reads on one thread
            read_options=pacsv.ReadOptions(**options, use_threads=invalid_row_handler is None),
            # A quoted cell may hold a line break (RFC 4180); without this, a block boundary
            # inside such a cell would split the row.
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid_row_handler
            ),
            # Names the file does not have are ignored here; conform reports them missing.
            convert_options=pacsv.ConvertOptions(column_types=column_types),
        )

    # pyarrow reads in blocks (1 MiB by default) and refuses a row longer than a block with
    # advice to raise the block size: such a file is read again as one block, and a cell
    # that is too large is then refused by intake.max_cell_bytes, with the right advice.
    whole = min(len(data) + 1, _MAX_BLOCK_BYTES)
    try:
        return read(None)
    except Exception as exc:
        if "straddl" not in str(exc):
            raise _unreadable_csv(name, data, read, whole) from None
    try:
        return read(whole)
    except Exception:
        raise _unreadable_csv(name, data, read, whole) from None


def _unreadable_csv(name: str, data: bytes, read, whole: int) -> DataFileError:
    """The file pyarrow refused, with why in our words: pyarrow's text quotes the row it
    refused, which may hold personal data. Read again as one block on one thread, stopping
    at the first ragged row: only so does pyarrow number it."""
    ragged = []

    def first_ragged(row) -> str:
        ragged.append(row)
        return "error"

    try:
        read(whole, invalid_row_handler=first_ragged)
        reason = "its rows could not be parsed"  # refused by the reads above only: not seen here
    except Exception as exc:
        reason = _csv_failure(exc, ragged[:1])
    return DataFileError(
        f"{name}: not a readable CSV file ({reason}); save it as CSV with a header row "
        "and the same number of fields on every line",
        code="E_FORMAT_UNREADABLE",
    )


_CSV_NOT_UTF8 = re.compile(r"In CSV column #(\d+): Row #(\d+): CSV conversion error to \w+: invalid UTF8 data")


def _csv_failure(exc: Exception, ragged: list) -> str:
    """Why pyarrow refused a CSV file, in our words: never its text, which may quote a row."""
    if ragged:
        row = ragged[0]
        where = f"row {row.number - 1:,}" if isinstance(row.number, int) and row.number > 1 else "a row"
        return f"{where} has {row.actual_columns:,} field(s), the header has {row.expected_columns:,}"
    if match := _CSV_NOT_UTF8.match(str(exc)):
        return f"row {int(match[2]) - 1:,}, field {int(match[1]) + 1:,} is not UTF-8 text"
    if isinstance(exc, UnicodeDecodeError):
        return "the header is not UTF-8 text"
    return "its rows could not be parsed"


def _decode_json_text(data: bytes, name: str) -> str:
    if b"\x00" in data:
        raise DataFileError(
            f"{name}: the file contains NUL bytes, so it is binary or UTF-16, not UTF-8 JSON text; "
            "save it as UTF-8",
            code="E_FORMAT_BINARY",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataFileError(f"{name}: JSON must be UTF-8 text; re-save the file as UTF-8", code="E_FORMAT_UNREADABLE") from None


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


class _LongNumber(Exception):
    pass


class _NotJson(Exception):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's parser reads them, JSON has no such words."""


class _LongString(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _json_options(rules: ParseRules, check_strings: bool) -> dict:
    """``json.loads`` hooks that enforce the rules while parsing.

    A number longer than ``intake.max_number_digits`` digits is refused before Python
    converts it (int parsing is quadratic; past 4,300 digits it raises). A float whose value
    is whole or infinite keeps its text (``values.NumberLiteral``): its literal tells
    ``3.0000000000000001`` from ``3.0`` and ``1e400`` from infinity where the value cannot.
    A record that repeats a key is refused like a CSV header that repeats a name, and
    ``NaN``, ``Infinity`` and ``-Infinity``, which Python's parser reads but JSON does not
    have, are refused as not JSON (a missing value is ``null``).
    """
    max_digits = rules.max_number_digits
    quarter = rules.max_cell_bytes // 4  # a string of fewer characters cannot be over the limit in UTF-8

    def parse_int(text: str) -> int:
        if len(text) > max_digits and digit_count(text) > max_digits:
            raise _LongNumber
        return int(text)

    def parse_float(text: str) -> float:
        if len(text) > max_digits and digit_count(text) > max_digits:
            raise _LongNumber
        value = float(text)
        return NumberLiteral(value, text) if value.is_integer() or math.isinf(value) else value

    def object_pairs(pairs: list[tuple[str, object]]) -> dict:
        record = dict(pairs)
        if len(record) != len(pairs):
            seen: set[str] = set()
            raise _RepeatedKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
        if check_strings:
            for key, value in pairs:
                if type(value) is str and len(value) > quarter and len(
                    value.encode("utf-8", "surrogatepass")
                ) > rules.max_cell_bytes:
                    raise _LongString(key)
        return record

    def parse_constant(text: str) -> float:
        raise _NotJson

    return {
        "parse_int": parse_int,
        "parse_float": parse_float,
        "parse_constant": parse_constant,
        "object_pairs_hook": object_pairs,
    }


def _load_json(text: str, options: dict, name: str, where: str, rules: ParseRules):
    """``json.loads`` with the hooks' refusals as messages (``where``: " on line N" or "")."""
    try:
        return json.loads(text, **options)
    except _RepeatedKey as repeated:
        raise DataFileError(
            f"{name}: a record{where} repeats the key {shown_columns([repeated.key])}; a later value would "
            "silently replace the earlier one: give every column a unique name",
            code="E_FORMAT_DUPLICATE_COLUMN",
        ) from None
    except _LongNumber:
        raise DataFileError(
            f"{name}: a number{where} has more than {rules.max_number_digits} digits (intake.max_number_digits); "
            "round it (a double keeps 17 significant digits), or raise the limit",
            code="E_DATA_NUMBER_TOO_LONG",
        ) from None
    except _NotJson:
        raise DataFileError(
            f"{name}: not valid JSON{where} (NaN/Infinity are not JSON); write null for a missing value",
            code="E_FORMAT_UNREADABLE",
        ) from None
    except _LongString as long:
        raise _cell_too_large(name, f"the value of key {shown_columns([long.key])} is", rules.max_cell_bytes, where) from None
    except RecursionError:  # json_depth stops this first; the parser's own guard is the backstop
        raise _too_deep(name, where, rules) from None


def _too_deep(name: str, where: str, rules: ParseRules) -> DataFileError:
    return DataFileError(
        f"{name}: JSON{where} is nested more than {rules.max_json_depth} levels deep (intake.max_json_depth); "
        "a record holds plain values (numbers, strings, true/false, null), or raise the limit",
        code="E_DATA_TOO_DEEP",
    )


def _records_frame(records: list[dict], name: str, wanted: _TaskColumns, rules: ParseRules) -> pd.DataFrame:
    """JSON records as a frame: the task's numeric keys by the value grammar, its category and
    text keys as the text of each cell (an integer column with nulls would otherwise pass
    through float64 and lose digits), the rest as pandas builds them."""
    keys = list(dict.fromkeys(itertools.chain.from_iterable(records)))
    names = dict(zip(keys, _header(keys, name, rules)))
    special = {key for key, column in names.items() if column in wanted.numbers or column in wanted.text}
    frame = pd.DataFrame.from_records(records, columns=[k for k in keys if k not in special]) if len(special) < len(
        keys
    ) else pd.DataFrame(index=pd.RangeIndex(len(records)))
    columns = {}
    for key in keys:
        column = names[key]
        if column in wanted.numbers:
            cells = [record.get(key) for record in records]
            parsed = parse_values(cells, wanted.numbers[column], column=column, source=name, max_digits=rules.max_number_digits)
            columns[key] = parsed.raw_series(frame.index)
        elif column in wanted.text:
            cells = [record.get(key) for record in records]
            refuse_nested(cells, "category or text", column=column, source=name)
            columns[key] = pd.Series([value_text(c) for c in cells], index=frame.index, dtype=object)
        else:
            columns[key] = frame[key]
    return pd.DataFrame(columns, index=frame.index).set_axis([names[k] for k in keys], axis=1)


def _read_json(data: bytes, name: str, wanted: _TaskColumns, rules: ParseRules) -> pd.DataFrame:
    text = _decode_json_text(data, name)
    # Python's parser recurses per level: measured first, so a deep file is refused, not a crash.
    if json_depth(data, stop_above=rules.max_json_depth) > rules.max_json_depth:
        raise _too_deep(name, "", rules)
    options = _json_options(rules, check_strings=len(data) > rules.max_cell_bytes)
    try:
        records = _load_json(text, options, name, "", rules)
    except json.JSONDecodeError as exc:
        raise DataFileError(
            f"{name}: not valid JSON ({exc.msg} at line {exc.lineno}); a .json file must hold an array of "
            "records (use .jsonl for one record per line)",
            code="E_FORMAT_UNREADABLE",
        ) from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataFileError(
            f"{name}: a .json file must hold an array of records "
            '(like [{"col": 1}, ...]), not a single object or value',
            code="E_FORMAT_JSON_SHAPE",
        )
    if len(records) > rules.max_rows:
        raise _too_many_rows(name, len(records), rules.max_rows)
    if not records:
        raise DataFileError(
            f"{name}: the JSON array is empty; a .json file needs one record per row, with the task's "
            'columns as keys, like [{"col": 1, "label": 0}, ...]',
            code="E_FORMAT_EMPTY",
        )
    return _records_frame(records, name, wanted, rules)


def _read_jsonl(data: bytes, name: str, wanted: _TaskColumns, rules: ParseRules) -> pd.DataFrame:
    options = _json_options(rules, check_strings=len(data) > rules.max_cell_bytes)
    records = []
    # Lines end at "\n" only (a trailing "\r" is dropped): str.splitlines would also split
    # inside a string at U+2028, U+2029 or \x1c, which JSON allows there unescaped.
    for number, line in enumerate(_decode_json_text(data, name).split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip(" \t"):
            continue
        where = f" on line {number}"
        if line.count("[") + line.count("{") > rules.max_json_depth and json_depth(
            line.encode("utf-8"), stop_above=rules.max_json_depth
        ) > rules.max_json_depth:
            raise _too_deep(name, where, rules)
        try:
            record = _load_json(line, options, name, where, rules)
        except json.JSONDecodeError as exc:
            raise DataFileError(
                f"{name}: line {number} is not valid JSON ({exc.msg}); "
                "JSON Lines needs one complete record per line",
                code="E_FORMAT_UNREADABLE",
            ) from None
        if not isinstance(record, dict):
            raise DataFileError(
                f"{name}: line {number} is not a JSON object; each line must be a record",
                code="E_FORMAT_JSON_SHAPE",
            )
        records.append(record)
        if len(records) > rules.max_rows:  # the lines after it are not read
            raise _too_many_rows(name, len(records), rules.max_rows, exact=False)
    if not records:
        raise DataFileError(
            f"{name}: the file holds no records; JSON Lines needs one JSON object per line, with the "
            'task\'s columns as keys, like {"col": 1, "label": 0}',
            code="E_FORMAT_EMPTY",
        )
    return _records_frame(records, name, wanted, rules)


def _read_parquet(data: bytes, name: str, wanted: _TaskColumns, rules: ParseRules) -> pd.DataFrame:
    """A Parquet file, its limits checked before it is read: the rows, columns and what its
    pages unpack to from the footer, then its dictionary-encoded texts read as dictionaries
    and measured (cells, and what they expand to) before they are expanded."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        count = len(parquet.schema_arrow.names)
    except Exception as exc:
        raise _unreadable_parquet(name, exc) from None
    if count > rules.max_columns:  # known from the footer, before a column is read
        raise _too_many_columns(name, count, rules.max_columns)
    if parquet.metadata.num_rows > rules.max_rows:
        raise _too_many_rows(name, parquet.metadata.num_rows, rules.max_rows)
    try:
        leaves = parquet_leaves(parquet.metadata)
    except Exception as exc:
        raise _unreadable_parquet(name, exc) from None
    _check_parquet_footer(leaves, name, rules)
    # Dictionary-encoded texts stay dictionaries until measured: expanded, one entry referenced
    # by every row could take rows x max_cell_bytes from a file of a few kilobytes.
    encoded = [leaf for leaf in leaves if leaf.width is None and leaf.dictionary]
    try:
        table = pq.ParquetFile(pa.BufferReader(data), read_dictionary=[leaf.index for leaf in encoded]).read()
    except Exception as exc:
        raise _unreadable_parquet(name, exc) from None
    if table.num_rows > rules.max_rows:  # a footer that understated them
        raise _too_many_rows(name, table.num_rows, rules.max_rows)
    table = table.rename_columns(_header(table.column_names, name, rules))
    # Always: compressed, a file far smaller than the limit can hold a cell far larger.
    _check_cell_sizes(table, name, rules.max_cell_bytes)
    if encoded:
        expanded = sum(_expanded_bytes(column) for column in table.columns)
        measured = {leaf.index for leaf in encoded}
        _check_footprint(sum(leaf.footprint for leaf in leaves if leaf.index not in measured) + expanded, name, rules)
        try:
            table = _expanded(table, parquet.schema_arrow, data)
        except Exception as exc:
            raise _unreadable_parquet(name, exc) from None
    try:
        return _table_frame(table, name, wanted, rules)
    except HokusaiError:
        raise
    except Exception as exc:  # a column pandas cannot hold (an extension type it does not know)
        raise _unreadable_parquet(name, exc) from None


def _check_parquet_footer(leaves: list, name: str, rules: ParseRules) -> None:
    """Refuse, from the footer, a column chunk whose pages unpack to more than its values could
    hold within ``intake.max_cell_bytes``, and a file that unpacks to more than its share of
    memory (module constant ``PARQUET_EXPANSION``); nothing is decompressed yet."""
    # Per value: the value, its length, and page statistics that may repeat it as a minimum
    # and a maximum; per chunk, room for headers, levels and a dictionary's indices.
    per_value = 3 * rules.max_cell_bytes + 256
    for leaf in leaves:
        for values, unpacked in leaf.chunks:
            if unpacked > values * per_value + _CHUNK_SLACK:
                raise _cell_too_large(
                    name,
                    f"column {shown_columns([leaf.path])} holds values of",
                    rules.max_cell_bytes,
                    f" (its footer: {unpacked:,} bytes unpacked for {values:,} value(s))",
                )
    _check_footprint(sum(leaf.footprint for leaf in leaves), name, rules)


def _check_footprint(footprint: int, name: str, rules: ParseRules) -> None:
    bound = PARQUET_EXPANSION * rules.max_file_bytes
    if footprint > bound:
        raise DataFileError(
            f"{name}: the file unpacks to about {footprint:,} bytes, more than {bound:,} "
            f"({PARQUET_EXPANSION} x intake.max_file_bytes); split the file, or raise the limit",
            code="E_DATA_TOO_LARGE",
        )


def _expanded_bytes(column) -> int:
    """The bytes the dictionary-encoded texts and binaries of a column (nested ones included)
    take once expanded: the lengths of the entries each value refers to, plus its offset."""
    import pyarrow as pa
    import pyarrow.compute as pc

    total = 0
    arrays = list(column.chunks)
    while arrays:
        array = arrays.pop()
        kind = array.type
        if pa.types.is_dictionary(kind):
            if _is_bytes(kind.value_type):
                lengths = pc.take(pc.binary_length(array.dictionary), array.indices)
                total += int(pc.sum(lengths).as_py() or 0) + 8 * len(array)
        elif pa.types.is_struct(kind):
            arrays.extend(array.flatten())
        elif pa.types.is_map(kind):
            arrays.extend([array.keys, array.items])
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            arrays.append(array.flatten())
    return total


def _expanded(table, schema, data: bytes):
    """``table`` with the types the file declares (``schema``): its dictionaries expanded.

    Measured first, so expanding is within the limits; a type pyarrow cannot cast to is read
    again from ``data`` as it is (the same values, just as bounded).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [field.with_name(column) for field, column in zip(schema, table.column_names)]
    try:
        return table.cast(pa.schema(fields, metadata=table.schema.metadata))
    except Exception:
        return pq.ParquetFile(pa.BufferReader(data)).read().rename_columns(table.column_names)


def _unreadable_parquet(name: str, exc: Exception) -> DataFileError:
    return DataFileError(
        f"{name}: not a readable Parquet file ({type(exc).__name__}); re-export it with pyarrow or pandas",
        code="E_FORMAT_UNREADABLE",
    )


_READERS = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl, "parquet": _read_parquet}


def parse_table(
    data: bytes,
    fmt: str,
    name: str,
    text_columns: Collection[str] = (),
    numeric_columns: Mapping[str, ValueKind] | None = None,
    rules: ParseRules | None = None,
) -> pd.DataFrame:
    """Parse a data file's bytes (``name`` is only for messages).

    ``text_columns`` are read as text and ``numeric_columns`` (name: int, float or bool) by
    the value grammar (see the module docstring); ``rules`` are the parser's limits (the
    defaults of :class:`ParseRules` when not given).
    """
    wanted = _TaskColumns(frozenset(text_columns), dict(numeric_columns or {}))
    frame = _READERS[fmt](data, name, wanted, rules or ParseRules())
    if frame.shape[1] == 0:
        raise DataFileError(
            f"{name}: the file holds no columns; it needs the task's feature and label columns", code="E_FORMAT_EMPTY"
        )
    if len(frame) == 0:  # a CSV header alone, a Parquet file of no rows
        raise DataFileError(
            f"{name}: the file names its columns but holds no rows; add one row per example "
            "(in a CSV file, lines of values below the header)",
            code="E_DATA_EMPTY",
        )
    return frame


def read_table(
    path: str | Path,
    fmt: str | None = None,
    text_columns: Collection[str] = (),
    numeric_columns: Mapping[str, ValueKind] | None = None,
    rules: ParseRules | None = None,
) -> pd.DataFrame:
    """Read a data file into a DataFrame, by its extension unless ``fmt`` is given."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(
            f"{path}: file not found; check the path (relative paths in hokusai.yaml are "
            "resolved against the directory of hokusai.yaml)",
            code="E_DATA_FILE_MISSING",
        )
    return parse_table(path.read_bytes(), fmt or detect_format(path), path.name, text_columns, numeric_columns, rules)
