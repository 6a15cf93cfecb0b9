"""Reading contributed and reference tables: CSV, JSON (array or JSON Lines), Parquet.

The format is decided by the file name's extension, never guessed from content, so a
contributor always knows how a file will be read. Every failure is a ``DataFileError``
that names the file and says what to do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from hokusai_assets.lib.errors import DataFileError

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


def _read_csv(path: Path) -> pd.DataFrame:
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid with a useful first line
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFileError(
            f"{path.name}: not a readable CSV file ({first_line}); "
            "save it as UTF-8 CSV with a header row",
            code="E_FORMAT_UNREADABLE",
        ) from exc
    return table.to_pandas()


def _read_json(path: Path) -> pd.DataFrame:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(
            f"{path.name}: not valid UTF-8 JSON ({exc}); a .json file must hold an array of "
            "records (use .jsonl for one record per line)",
            code="E_FORMAT_UNREADABLE",
        ) from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataFileError(
            f"{path.name}: a .json file must hold an array of records "
            '(like [{"col": 1}, ...]), not a single object or value',
            code="E_FORMAT_JSON_SHAPE",
        )
    return pd.DataFrame.from_records(records)


def _read_jsonl(path: Path) -> pd.DataFrame:
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(
                    f"{path.name}: line {number} is not valid JSON ({exc.msg}); "
                    "JSON Lines needs one complete record per line",
                    code="E_FORMAT_UNREADABLE",
                ) from exc
            if not isinstance(record, dict):
                raise DataFileError(
                    f"{path.name}: line {number} is not a JSON object; each line must be a record",
                    code="E_FORMAT_JSON_SHAPE",
                )
            records.append(record)
    return pd.DataFrame.from_records(records)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pandas()
    except Exception as exc:
        raise DataFileError(
            f"{path.name}: not a readable Parquet file ({type(exc).__name__}: {exc}); "
            "re-export it with pyarrow or pandas",
            code="E_FORMAT_UNREADABLE",
        ) from exc


_READERS = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl, "parquet": _read_parquet}


def read_table(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """Read a data file into a DataFrame, by its extension unless ``fmt`` is given."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(
            f"{path}: file not found; check the path (relative paths in hokusai.yaml are "
            "resolved against the directory of hokusai.yaml)",
            code="E_DATA_FILE_MISSING",
        )
    fmt = fmt or detect_format(path)
    frame = _READERS[fmt](path)
    if frame.shape[1] == 0:
        raise DataFileError(f"{path.name}: the file holds no columns", code="E_FORMAT_EMPTY")
    return frame
