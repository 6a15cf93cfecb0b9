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
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Collection
from pathlib import Path

import pandas as pd

from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.feature_values import value_text

CSV_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 64 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"

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
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataFileError(
            f"{name}: column name(s) {shown_columns(duplicated)} appear more than once; "
            "give every column a unique name",
            code="E_FORMAT_DUPLICATE_COLUMN",
        )


def sniff_csv(head: bytes) -> tuple[str, str]:
    """(encoding, delimiter) of a CSV file from its first bytes."""
    if b"\x00" in head:
        raise DataFileError(
            "the file contains NUL bytes, so it is binary, not CSV text; export the data as CSV",
            code="E_FORMAT_BINARY",
        )
    if head.startswith(_UTF8_BOM):
        encoding, text = "utf8", head[len(_UTF8_BOM) :].decode("utf-8", errors="ignore")
    else:
        try:
            # A multi-byte character may be cut at the end of the sample: ignore only that.
            text = head.decode("utf-8") if len(head) < _SNIFF_BYTES else head[:-4].decode("utf-8")
            encoding = "utf8"
        except UnicodeDecodeError:
            encoding, text = "latin-1", head.decode("latin-1")
    first_line = text.splitlines()[0] if text.strip() else ""
    try:
        delimiter = csv.Sniffer().sniff(text[:_SNIFF_BYTES], delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        # One column, or too little text to tell: fall back on what the header holds.
        counts = {d: first_line.count(d) for d in CSV_DELIMITERS}
        delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    return encoding, delimiter


def _read_csv(data: bytes, name: str, text_columns: Collection[str] = ()) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    head = data[:_SNIFF_BYTES]
    if not head.strip():
        raise DataFileError(f"{name}: the file is empty; it needs a header row and data rows", code="E_FORMAT_EMPTY")
    try:
        encoding, delimiter = sniff_csv(head)
    except DataFileError as error:
        raise DataFileError(f"{name}: {error.message}", code=error.code) from None
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(encoding=encoding),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            # Names the file does not have are ignored here; conform reports them missing.
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in text_columns}),
        )
    except Exception as exc:  # pyarrow raises ArrowInvalid; its text may quote a row
        reason = re.sub(r":[^:]*$", "", str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
        raise DataFileError(
            f"{name}: not a readable CSV file ({reason}); save it as CSV with a header row "
            "and the same number of fields on every line",
            code="E_FORMAT_UNREADABLE",
        ) from None
    require_unique_columns(table.column_names, name)
    return table.to_pandas()


def _decode_json_text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataFileError(f"{name}: JSON must be UTF-8 text; re-save the file as UTF-8", code="E_FORMAT_UNREADABLE") from None


def _as_text_columns(frame: pd.DataFrame, records: list[dict], text_columns: Collection[str]) -> pd.DataFrame:
    """The ``text_columns`` of a frame built from JSON records, as the text of each cell (an
    integer column with nulls would otherwise pass through float64 and lose digits)."""
    for column in text_columns:
        if column in frame.columns:
            frame[column] = pd.Series([value_text(r.get(column)) for r in records], index=frame.index, dtype=object)
    return frame


def _read_json(data: bytes, name: str, text_columns: Collection[str] = ()) -> pd.DataFrame:
    try:
        records = json.loads(_decode_json_text(data, name))
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
    if not records:
        raise DataFileError(
            f"{name}: the JSON array is empty; a .json file needs one record per row, with the task's "
            'columns as keys, like [{"col": 1, "label": 0}, ...]',
            code="E_FORMAT_EMPTY",
        )
    return _as_text_columns(pd.DataFrame.from_records(records), records, text_columns)


def _read_jsonl(data: bytes, name: str, text_columns: Collection[str] = ()) -> pd.DataFrame:
    records = []
    for number, line in enumerate(_decode_json_text(data, name).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
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
    if not records:
        raise DataFileError(
            f"{name}: the file holds no records; JSON Lines needs one JSON object per line, with the "
            'task\'s columns as keys, like {"col": 1, "label": 0}',
            code="E_FORMAT_EMPTY",
        )
    return _as_text_columns(pd.DataFrame.from_records(records), records, text_columns)


def _read_parquet(data: bytes, name: str, text_columns: Collection[str] = ()) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:
        raise DataFileError(
            f"{name}: not a readable Parquet file ({type(exc).__name__}); re-export it with pyarrow or pandas",
            code="E_FORMAT_UNREADABLE",
        ) from None
    require_unique_columns(table.column_names, name)
    frame = table.to_pandas()
    for column in text_columns:
        if column in frame.columns:
            kind = table.schema.field(column).type
            if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
                values = table.column(column).to_pylist()  # Python ints: no float64 on the way
                frame[column] = pd.Series([value_text(v) for v in values], index=frame.index, dtype=object)
    return frame


_READERS = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl, "parquet": _read_parquet}


def parse_table(data: bytes, fmt: str, name: str, text_columns: Collection[str] = ()) -> pd.DataFrame:
    """Parse a data file's bytes (``name`` is only for messages); ``text_columns`` are read as
    text (see the module docstring)."""
    frame = _READERS[fmt](data, name, text_columns)
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


def read_table(path: str | Path, fmt: str | None = None, text_columns: Collection[str] = ()) -> pd.DataFrame:
    """Read a data file into a DataFrame, by its extension unless ``fmt`` is given."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(
            f"{path}: file not found; check the path (relative paths in hokusai.yaml are "
            "resolved against the directory of hokusai.yaml)",
            code="E_DATA_FILE_MISSING",
        )
    return parse_table(path.read_bytes(), fmt or detect_format(path), path.name, text_columns)
