"""The hostile-file corpus: every case's bytes, built here without a random draw, and the
answer intake must give it (a code, or "accepted").

Three classes: files over a parser limit (``LIMITS``), values outside the grammar of their
declared type (``GRAMMAR``), and legal files that must parse (``LEGAL``). The task is
``SCHEMA`` below (an int, a float, a bool, a category and a text feature, an int label).

    python -m hokusai_assets_tests.lib.intake.hostile_corpus DIRECTORY

writes every case to DIRECTORY as ``<class>/<case>.<ext>`` (about 60 MB: some cases are
large on purpose), with ``expected.json`` naming each one's answer, to try them elsewhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hokusai_assets.lib.intake.formats import ParseRules
from hokusai_assets.lib.task import TaskSchema

SCHEMA = TaskSchema(
    task_type="classification",
    label="label",
    label_type="int",
    features=(("count", "int"), ("score", "float"), ("member", "bool"), ("city", "category"), ("note", "text")),
)
CLASSES = [0, 1]
COLUMNS = ["count", "score", "member", "city", "note", "label"]
NOTE_LAST = ["count", "score", "member", "city", "label", "note"]
# A value no message may quote (cells may hold personal data).
SECRET = "jane.doe@example.org"


def rows(n: int = 20) -> list[dict]:
    """Good rows: the base every case changes one thing of."""
    return [
        {"count": i, "score": i / 8, "member": i % 2 == 0, "city": ["Oslo", "Lima", "Pune"][i % 3],
         "note": f"visit {i}", "label": i % 2}
        for i in range(n)
    ]


def as_csv(records: list[dict], columns: list[str] | None = None, delimiter: str = ",") -> bytes:
    columns = columns or list(records[0])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_csv_cell(record.get(c)) for c in columns])
    return out.getvalue().encode()


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def as_json(records: list[dict]) -> bytes:
    return json.dumps(records, ensure_ascii=False).encode()


def as_jsonl(records: list[dict], newline: str = "\n") -> bytes:
    return newline.join(json.dumps(r, ensure_ascii=False) for r in records).encode() + newline.encode()


def as_parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def parquet_rows(records: list[dict], **types: pa.DataType) -> bytes:
    """Parquet of ``records``, with the pyarrow types of ``types`` for those columns."""
    columns = list(records[0])
    schema = pa.schema([(c, types.get(c, _PARQUET_TYPES[c])) for c in columns])
    return as_parquet(pa.Table.from_pylist(records, schema=schema))


_PARQUET_TYPES = {"count": pa.int64(), "score": pa.float64(), "member": pa.bool_(), "city": pa.string(),
                  "note": pa.string(), "label": pa.int64()}


def with_cell(column: str, value: object, row: int = 3, n: int = 20) -> list[dict]:
    records = rows(n)
    records[row][column] = value
    return records


@dataclass(frozen=True)
class Case:
    name: str
    ext: str
    make: Callable[[], bytes]
    expected: str  # a code, or "accepted"
    rules: ParseRules = field(default_factory=ParseRules)
    note: str = ""


def _deep_json() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000  # 200 KB


def _long_number_json() -> bytes:
    return as_json(rows()).replace(b'"count": 3,', b'"count": ' + b"9" * 100_000 + b",", 1)


def _damaged_pandas_metadata(metadata: bytes) -> bytes:
    table = pa.Table.from_pylist(rows(), schema=pa.schema([(c, _PARQUET_TYPES[c]) for c in COLUMNS]))
    return as_parquet(table.replace_schema_metadata({b"pandas": metadata}))


def _wide_header() -> bytes:
    return (",".join(f"c{i:05d}" for i in range(100_000)) + "\n").encode()  # about 700 KB


def _csv_with_cell(size: int) -> bytes:
    return as_csv(with_cell("note", "y" * size))


def _parquet_wide() -> bytes:
    return as_parquet(pa.table({f"c{i}": [1] for i in range(1_500)}))


def _parquet_nested(kind: str) -> bytes:
    records = rows()
    values = {
        "timestamp": (pa.timestamp("us"), lambda i: dt.datetime(2024, 5, 17, 8, i)),
        "date": (pa.date32(), lambda i: dt.date(2024, 5, 1 + i)),
        "binary": (pa.binary(), lambda i: SECRET.encode()),
        "list": (pa.list_(pa.float64()), lambda i: [float(i)]),
        "struct": (pa.struct([("x", pa.float64())]), lambda i: {"x": float(i)}),
        "bool": (pa.bool_(), lambda i: bool(i % 2)),
    }[kind]
    for i, record in enumerate(records):
        record["score"] = values[1](i)
    return parquet_rows(records, score=values[0])


def _quoted_wide_header() -> bytes:
    # A quote inside a name is text to pyarrow: counting every quote as one that opens or
    # closes a quoted field made this header 1 field, and pyarrow built its 30,000 columns.
    names = 'a"b,' + ",".join(f"c{i}" for i in range(30_000))
    return (names + "\n" + "1," * 30_000 + "1\n").encode()


def _parquet_zeros(rows: int) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"count": pa.array(np.zeros(rows, dtype=np.int64))}), out, compression="zstd")
    return out.getvalue()


def _dictionary_bomb(entry_bytes: int, rows: int) -> bytes:
    """One text entry every row refers to: kilobytes on disk, ``entry_bytes x rows`` expanded."""
    indices = pa.array(np.zeros(rows, dtype=np.int32))
    note = pa.DictionaryArray.from_arrays(indices, pa.array(["y" * entry_bytes]))
    return as_parquet(pa.table({"count": pa.array(np.arange(rows)), "note": note}))


def _csv_nul_late() -> bytes:
    data = as_csv(rows(4000))
    assert len(data) > 64 * 1024
    return data + b"\x00"


def _padded(fmt: str) -> bytes:
    records = [{(" count " if k == "count" else k): v for k, v in r.items()} for r in rows()]
    return {"csv": as_csv, "json": as_json, "parquet": lambda r: as_parquet(pa.Table.from_pylist(r))}[fmt](records)


def _extremes() -> list[dict]:
    records = rows()
    records[1]["count"] = "9223372036854775807"
    records[2]["count"] = "-9223372036854775808"
    return records


def _bool_forms() -> list[dict]:
    records = rows(8)
    for record, form in zip(records, ["true", "FALSE", "1", "0", "True", " false ", "1.0", "0"]):
        record["member"] = form
    return records


def _parquet_string_count() -> bytes:
    records = rows()
    for record in records:
        record["count"] = str(record["count"])
    records[3]["count"] = "0x10"
    return parquet_rows(records, count=pa.string())


LIMITS = [
    Case("json_nested_200kb", "json", _deep_json, "E_DATA_TOO_DEEP", note="crashed with RecursionError"),
    Case("jsonl_nested_value", "jsonl", lambda: as_jsonl(with_cell("note", json.loads("[" * 40 + "]" * 40))),
         "E_DATA_TOO_DEEP"),
    Case("json_integer_100k_digits", "json", _long_number_json, "E_DATA_NUMBER_TOO_LONG",
         note="raised ValueError (int-string conversion limit)"),
    Case("jsonl_float_5000_digits", "jsonl", lambda: as_jsonl(rows()).replace(b'"score": 0.375', b'"score": 0.' + b"3" * 5000),
         "E_DATA_NUMBER_TOO_LONG"),
    Case("csv_integer_5000_digits", "csv", lambda: as_csv(with_cell("count", "7" * 5000)), "E_DATA_NUMBER_TOO_LONG"),
    Case("csv_header_100k_columns", "csv", _wide_header, "E_DATA_TOO_MANY_COLUMNS",
         note="ran past a minute and 1.4 GB"),
    Case("json_1500_keys", "json", lambda: as_json([{f"k{i}": i for i in range(1_500)}]), "E_DATA_TOO_MANY_COLUMNS"),
    Case("parquet_1500_columns", "parquet", _parquet_wide, "E_DATA_TOO_MANY_COLUMNS"),
    Case("csv_cell_50mb", "csv", lambda: _csv_with_cell(50_000_000), "E_DATA_CELL_TOO_LARGE",
         note="was refused with advice to raise pyarrow's block size"),
    Case("json_string_2mb", "json", lambda: as_json(with_cell("note", "y" * 2_000_000)), "E_DATA_CELL_TOO_LARGE"),
    Case("parquet_string_2mb", "parquet", lambda: parquet_rows(with_cell("note", "y" * 2_000_000)),
         "E_DATA_CELL_TOO_LARGE", note="compressed, the file is far smaller than the cell"),
    Case("csv_row_over_a_block_cells_under_limit", "csv", lambda: _csv_with_cell(1_000_000), "accepted"),
    Case("parquet_pandas_metadata_not_json", "parquet", lambda: _damaged_pandas_metadata(b'{"columns": [trunc'),
         "accepted", note="crashed in to_pandas"),
    Case("parquet_pandas_metadata_wrong_shape", "parquet",
         lambda: _damaged_pandas_metadata(b'{"columns": 7, "index_columns": ["nope"]}'), "accepted"),
    Case("csv_header_quote_inside_a_name", "csv", _quoted_wide_header, "E_DATA_TOO_MANY_COLUMNS",
         note="counted as 1 field, then pyarrow built 30,000 columns (0.6 s, 420 MB) from 260 KB"),
    Case("parquet_10m_rows_of_zeros", "parquet", lambda: _parquet_zeros(10_000_000), "E_DATA_TOO_MANY_ROWS",
         note="45 KB; was read whole (80 MB) before the row count was looked at"),
    Case("parquet_cell_20mb_in_1kb", "parquet", lambda: parquet_rows(with_cell("note", "y" * 20_000_000, row=0, n=1)),
         "E_DATA_CELL_TOO_LARGE", note="refused from the footer, before its page is decompressed"),
    Case("parquet_dictionary_entry_on_every_row", "parquet", lambda: _dictionary_bomb(100_000, 1_000),
         "E_DATA_TOO_LARGE", ParseRules(max_file_bytes=1_000_000),
         note="one 100 KB entry on 1,000 rows: 100 MB expanded from an 11 KB file (at the defaults, a 1 MB "
              "entry on 5,000,000 rows is 5 TB)"),
    Case("parquet_unpacks_over_a_lowered_limit", "parquet", lambda: _parquet_zeros(1_000_000), "E_DATA_TOO_LARGE",
         ParseRules(max_file_bytes=500_000)),
    Case("csv_columns_over_a_lowered_limit", "csv", lambda: as_csv(rows()), "E_DATA_TOO_MANY_COLUMNS",
         ParseRules(max_columns=5)),
    Case("json_depth_over_a_lowered_limit", "json", lambda: as_json(rows()), "E_DATA_TOO_DEEP", ParseRules(max_json_depth=1)),
]

GRAMMAR = [
    Case("csv_int_hex", "csv", lambda: as_csv(with_cell("count", "0x10")), "E_SCHEMA_TYPE", note="was read as 16"),
    Case("csv_int_over_int64", "csv", lambda: as_csv(with_cell("count", "9223372036854775808")), "E_SCHEMA_TYPE",
         note="became -9223372036854775808 and was accepted"),
    Case("csv_int_under_int64", "csv", lambda: as_csv(with_cell("count", "-9223372036854775809")), "E_SCHEMA_TYPE"),
    Case("csv_int_int64_extremes", "csv", lambda: as_csv(_extremes()), "accepted"),
    Case("csv_int_fraction", "csv", lambda: as_csv(with_cell("count", "2.5")), "E_SCHEMA_TYPE"),
    Case("csv_int_zero_fraction", "csv", lambda: as_csv(with_cell("count", "3.000")), "accepted"),
    Case("csv_int_exponent", "csv", lambda: as_csv(with_cell("count", "1e3")), "E_SCHEMA_TYPE"),
    Case("csv_int_underscores", "csv", lambda: as_csv(with_cell("count", "1_000")), "E_SCHEMA_TYPE"),
    Case("csv_int_boolean", "csv", lambda: as_csv(with_cell("count", "true")), "E_SCHEMA_TYPE"),
    Case("csv_label_hex", "csv", lambda: as_csv(with_cell("label", "0x1")), "E_SCHEMA_TYPE"),
    Case("csv_float_overflow", "csv", lambda: as_csv(with_cell("score", "1e400")), "E_SCHEMA_TYPE"),
    Case("csv_float_hex", "csv", lambda: as_csv(with_cell("score", "0x1p3")), "E_SCHEMA_TYPE"),
    Case("csv_float_infinity", "csv", lambda: as_csv(with_cell("score", "-Infinity")), "E_SCHEMA_MISSING_VALUE",
         note="±inf follows intake.nan_policy, as before"),
    Case("csv_float_nan_text", "csv", lambda: as_csv(with_cell("score", "NaN")), "E_SCHEMA_MISSING_VALUE"),
    Case("csv_float_secret_text", "csv", lambda: as_csv(with_cell("score", SECRET)), "E_SCHEMA_TYPE"),
    Case("csv_bool_two", "csv", lambda: as_csv(with_cell("member", "2")), "E_SCHEMA_TYPE"),
    Case("csv_bool_forms", "csv", lambda: as_csv(_bool_forms()), "accepted"),
    Case("json_int_true", "json", lambda: as_json(with_cell("count", True)), "E_SCHEMA_TYPE"),
    Case("json_float_false", "json", lambda: as_json(with_cell("score", False)), "E_SCHEMA_TYPE"),
    Case("json_label_true", "json", lambda: as_json(with_cell("label", True)), "E_SCHEMA_TYPE"),
    Case("json_int_3_0", "json", lambda: as_json(with_cell("count", 3.0)), "accepted"),
    Case("json_int_3_5", "json", lambda: as_json(with_cell("count", 3.5)), "E_SCHEMA_TYPE"),
    Case("json_int_1e2", "json", lambda: as_json(rows()).replace(b'"count": 3,', b'"count": 1e2,'), "E_SCHEMA_TYPE"),
    Case("json_int_string", "json", lambda: as_json(with_cell("count", "42")), "accepted"),
    Case("json_int_over_int64", "json", lambda: as_json(with_cell("count", 2**63)), "E_SCHEMA_TYPE"),
    Case("json_int_nested", "json", lambda: as_json(with_cell("count", [1])), "E_SCHEMA_TYPE"),
    Case("json_float_overflow_literal", "json", lambda: as_json(rows()).replace(b'"score": 0.375', b'"score": 1e400'),
         "E_SCHEMA_TYPE"),
    Case("json_duplicate_key", "json", lambda: as_json(rows()).replace(b'"city": "Oslo"', b'"city": "Oslo", "city": "x"', 1),
         "E_FORMAT_DUPLICATE_COLUMN"),
    Case("jsonl_duplicate_key", "jsonl", lambda: as_jsonl(rows()).replace(b'"note": "visit 0"', b'"note": 1, "note": 2'),
         "E_FORMAT_DUPLICATE_COLUMN"),
    Case("parquet_timestamp_for_float", "parquet", lambda: _parquet_nested("timestamp"), "E_SCHEMA_TYPE"),
    Case("parquet_date_for_float", "parquet", lambda: _parquet_nested("date"), "E_SCHEMA_TYPE"),
    Case("parquet_binary_for_float", "parquet", lambda: _parquet_nested("binary"), "E_SCHEMA_TYPE"),
    Case("parquet_list_for_float", "parquet", lambda: _parquet_nested("list"), "E_SCHEMA_TYPE"),
    Case("parquet_struct_for_float", "parquet", lambda: _parquet_nested("struct"), "E_SCHEMA_TYPE"),
    Case("parquet_bool_for_float", "parquet", lambda: _parquet_nested("bool"), "E_SCHEMA_TYPE"),
    Case("parquet_uint64_over_int64", "parquet", lambda: parquet_rows(with_cell("count", 2**63), count=pa.uint64()),
         "E_SCHEMA_TYPE"),
    Case("parquet_whole_floats_for_int", "parquet", lambda: parquet_rows(rows(), count=pa.float64()), "accepted"),
    Case("parquet_strings_for_int", "parquet", _parquet_string_count, "E_SCHEMA_TYPE"),
    Case("json_nan_token", "json", lambda: as_json(rows()).replace(b'"score": 0.375', b'"score": NaN'),
         "E_FORMAT_UNREADABLE", note="Python's parser reads it; was a missing value"),
    Case("jsonl_infinity_token", "jsonl", lambda: as_jsonl(rows()).replace(b'"count": 3,', b'"count": -Infinity,'),
         "E_FORMAT_UNREADABLE"),
    Case("json_list_in_a_category", "json", lambda: as_json(with_cell("city", [])), "E_SCHEMA_TYPE",
         note="crashed reading the list's text (found by the fuzz test)"),
    Case("jsonl_object_in_a_text", "jsonl", lambda: as_jsonl(with_cell("note", {"a": 1})), "E_SCHEMA_TYPE"),
    Case("parquet_lists_for_a_text", "parquet",
         lambda: parquet_rows([dict(r, note=[r["note"]]) for r in rows()], note=pa.list_(pa.string())), "E_SCHEMA_TYPE"),
]


LEGAL = [
    Case("csv_comma_with_semicolons_in_quoted_text", "csv",
         lambda: as_csv([dict(r, note=f';a, b {i};') for i, r in enumerate(rows())], NOTE_LAST), "accepted",
         note="csv.Sniffer took the semicolons next to the quotes for the delimiter, and the file was refused"),
    Case("csv_semicolons_with_decimal_commas", "csv",
         lambda: b"count;score;member;city;note;label\n" + b"".join(
             f"{i};{i},5;true;Oslo;a, b;{i % 2}\n".encode() for i in range(20)), "E_SCHEMA_TYPE",
         note="a semicolon file: its decimal commas are then not floats, and say so"),
    Case("csv_tab_with_commas_in_text", "csv", lambda: as_csv([dict(r, note="x, y") for r in rows()], delimiter="\t"),
         "accepted"),
    Case("csv_quoted_line_breaks", "csv", lambda: as_csv([dict(r, note="two\nlines") for r in rows()]), "accepted"),
    Case("csv_crlf", "csv", lambda: as_csv(rows()).replace(b"\n", b"\r\n"), "accepted"),
    Case("csv_nul_after_64kib", "csv", _csv_nul_late, "E_FORMAT_BINARY", note="only the first 64 KiB were looked at"),
    Case("csv_padded_header", "csv", lambda: _padded("csv"), "E_SCHEMA_HEADER_WHITESPACE"),
    Case("csv_padded_header_trimmed", "csv", lambda: _padded("csv"), "accepted", ParseRules(trim_headers=True)),
    Case("json_padded_keys", "json", lambda: _padded("json"), "E_SCHEMA_HEADER_WHITESPACE"),
    Case("json_padded_keys_trimmed", "json", lambda: _padded("json"), "accepted", ParseRules(trim_headers=True)),
    Case("parquet_padded_names", "parquet", lambda: _padded("parquet"), "E_SCHEMA_HEADER_WHITESPACE"),
    Case("parquet_padded_names_trimmed", "parquet", lambda: _padded("parquet"), "accepted", ParseRules(trim_headers=True)),
    Case("csv_trimmed_header_collides", "csv", lambda: as_csv([dict(r, **{" count": 1}) for r in rows()]),
         "E_FORMAT_DUPLICATE_COLUMN", ParseRules(trim_headers=True)),
    *[
        Case(f"jsonl_{label}_inside_a_string", "jsonl", lambda c=char: as_jsonl([dict(r, note=f"a{c}b") for r in rows()]),
             "accepted", note="str.splitlines split the line there")
        for label, char in [("u2028", "\u2028"), ("u2029", "\u2029"), ("x1c", "\x1c"), ("x85", "\x85"), ("vt", "\x0b")]
    ],
    Case("jsonl_crlf", "jsonl", lambda: as_jsonl(rows(), newline="\r\n"), "accepted"),
    Case("jsonl_blank_lines", "jsonl", lambda: as_jsonl(rows()).replace(b"\n", b"\n\n \n"), "accepted"),
    Case("csv_ragged_row_with_a_colon", "csv", lambda: as_csv(rows()) + f"{SECRET}:secret,2,3\n".encode(),
         "E_FORMAT_UNREADABLE", note="pyarrow's message, cut at its last colon, still quoted the row"),
    Case("json_missing_values_as_null", "json", lambda: as_json(with_cell("city", None)), "accepted"),
]

CORPUS = {"limits": LIMITS, "grammar": GRAMMAR, "legal": LEGAL}


def write_corpus(directory: Path) -> None:
    expected = {}
    for group, cases in CORPUS.items():
        (directory / group).mkdir(parents=True, exist_ok=True)
        for case in cases:
            name = f"{group}/{case.name}.{case.ext}"
            (directory / name).write_bytes(case.make())
            expected[name] = {"expected": case.expected, "rules": vars(case.rules), "note": case.note}
    (directory / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    import sys

    write_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus"))
