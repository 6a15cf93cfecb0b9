"""Every hostile file gets a clear answer: the corpus of ``hostile_corpus`` through the intake's
schema steps (parse, limits, PII, conform, labels: what `hokusai validate` and `hokusai
evaluate` run first), one test per class, each case with its own answer.

A refusal is one failed ``schema_valid`` check with a code, a message naming the setting
or the column and rows, and never a cell's value; never a Python exception.
"""

import time

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.intake.formats import ParseRules, parse_table
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.lib.intake.validate import IntakePolicy, schema_misfit

from .hostile_corpus import (
    CLASSES,
    GRAMMAR,
    LEGAL,
    LIMITS,
    SCHEMA,
    SECRET,
    Case,
    as_csv,
    as_json,
    as_jsonl,
    parquet_rows,
    rows,
)

KEY = PiiKey.from_secret(bytes(range(32)))
LIMIT_KEYS = {
    "E_DATA_TOO_DEEP": "intake.max_json_depth",
    "E_DATA_NUMBER_TOO_LONG": "intake.max_number_digits",
    "E_DATA_TOO_MANY_COLUMNS": "intake.max_columns",
    "E_DATA_CELL_TOO_LARGE": "intake.max_cell_bytes",
    "E_DATA_TOO_MANY_ROWS": "intake.max_rows",
    "E_DATA_TOO_LARGE": "intake.max_file_bytes",
}


def answer(case: Case) -> tuple[str, str]:
    """(code or "accepted", message) of the case's bytes through the intake's schema steps."""
    data = case.make()
    failed = schema_misfit(data, _fmt(case.ext), f"case.{case.ext}", SCHEMA, IntakePolicy(parse=case.rules), KEY, CLASSES)
    if failed is None:
        return "accepted", ""
    return failed.metadata["code"], failed.description


def _fmt(ext: str) -> str:
    return {"csv": "csv", "json": "json", "jsonl": "jsonl", "parquet": "parquet"}[ext]


def check(case: Case) -> str:
    started = time.perf_counter()
    code, message = answer(case)
    assert code == case.expected, (case.name, message)
    assert time.perf_counter() - started < 20, f"{case.name} took too long"
    assert SECRET not in message
    return message


@pytest.mark.parametrize("case", LIMITS, ids=[c.name for c in LIMITS])
def test_a_file_over_a_parser_limit_is_refused_naming_the_setting(case):
    message = check(case)
    if case.expected in LIMIT_KEYS:
        assert LIMIT_KEYS[case.expected] in message and "raise the limit" in message, message


@pytest.mark.parametrize("case", GRAMMAR, ids=[c.name for c in GRAMMAR])
def test_a_value_outside_its_types_grammar_is_refused_naming_column_and_rows(case):
    message = check(case)
    if case.expected == "E_SCHEMA_TYPE":
        assert "column '" in message and "rows " in message, message
        assert "2024" not in message and "0x10" not in message  # the values themselves are never quoted
    if case.expected == "E_FORMAT_DUPLICATE_COLUMN":
        assert "'city'" in message or "'note'" in message, message


@pytest.mark.parametrize("case", LEGAL, ids=[c.name for c in LEGAL])
def test_legal_files_parse_and_near_misses_say_what_is_wrong(case):
    message = check(case)
    if case.expected == "E_SCHEMA_HEADER_WHITESPACE":
        assert "surrounding spaces: ' count '" in message and "intake.trim_headers: true" in message, message


def test_the_corpus_has_every_class():
    assert len(LIMITS) >= 12 and len(GRAMMAR) >= 25 and len(LEGAL) >= 12
    names = [c.name for c in LIMITS + GRAMMAR + LEGAL]
    assert len(names) == len(set(names))


# ---- what the accepted ones hold


def parsed(data: bytes, fmt: str, rules: ParseRules | None = None) -> pd.DataFrame:
    return parse_table(data, fmt, f"t.{fmt}", SCHEMA.string_feature_names, SCHEMA.numeric_columns, rules)


def test_int64_extremes_and_integral_literals_keep_every_digit():
    records = rows(4)
    records[0]["count"], records[1]["count"] = "9223372036854775807", "-9223372036854775808"
    frame = parsed(as_csv(records), "csv")
    assert frame["count"].tolist()[:2] == [2**63 - 1, -(2**63)]
    # A JSON number is read by its literal: 9007199254740993.0 is not the double next to it.
    text = as_json(rows(2)).replace(b'"count": 1,', b'"count": 9007199254740993.0,')
    assert parsed(text, "json")["count"].tolist() == [0, 9007199254740993]


def test_a_row_longer_than_pyarrows_block_is_read_and_its_cell_kept():
    records = rows()
    records[5]["note"] = "y" * 1_000_000
    assert parsed(as_csv(records), "csv")["note"][5] == "y" * 1_000_000


def test_damaged_pandas_metadata_leaves_the_columns_as_they_are():
    case = next(c for c in LIMITS if c.name == "parquet_pandas_metadata_not_json")
    frame = parsed(case.make(), "parquet")
    assert frame["count"].tolist() == list(range(20)) and frame["city"][0] == "Oslo"


def test_trimmed_headers_are_the_task_columns():
    case = next(c for c in LEGAL if c.name == "csv_padded_header_trimmed")
    assert "count" in parsed(case.make(), "csv", case.rules).columns


def test_a_wide_header_is_refused_before_it_is_parsed():
    case = next(c for c in LIMITS if c.name == "csv_header_100k_columns")
    data = case.make()
    started = time.perf_counter()
    with pytest.raises(Exception) as raised:
        parsed(data, "csv")
    assert time.perf_counter() - started < 1.0
    assert raised.value.code == "E_DATA_TOO_MANY_COLUMNS" and "more columns than the limit of 1,000" in raised.value.message
    # Raised, the same header is read (the limit is a setting, not a wall).
    frame = parse_table(data + b",".join(b"1" for _ in range(100_000)) + b"\n", "csv", "w.csv",
                        rules=ParseRules(max_columns=100_000))
    assert frame.shape == (1, 100_000)


def test_column_names_are_checked_for_repeats_in_linear_time():
    from hokusai_assets.lib.intake.formats import require_unique_columns

    names = [f"c{i}" for i in range(200_000)]
    started = time.perf_counter()
    require_unique_columns(names, "t")
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ('a,b,note\n1,2,";x, y;"\n3,4,";z;"\n', ","),  # semicolons inside quotes are not evidence
        ("a;b\n1,5;2\n2,5;3\n", ";"),  # decimal commas: the comma is not in the header
        ("a\tb\n1\thello, world\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ("a,b;c\n1,2;3\n", ","),  # both consistent: the comma wins
        ("a;b;c\n1;2\n", ";"),  # none consistent: the one the header holds most (the parser then says ragged)
        ("abc\n1\n", ","),  # one column
        ("\n\na;b\n\n1;2\n", ";"),  # blank lines are not lines
        ("", ","),
    ],
)
def test_the_delimiter_is_the_comma_unless_the_evidence_is_clear(text, delimiter):
    from hokusai_assets.lib.intake.structure import detect_delimiter

    assert detect_delimiter(text, complete=True) == delimiter


def test_a_line_cut_by_the_end_of_the_sample_is_not_evidence():
    from hokusai_assets.lib.intake.structure import detect_delimiter

    assert detect_delimiter("a;b\n1;2\n3;4\n5", complete=False) == ";"
    assert detect_delimiter("a,b\n1,2\n3,4\n5;6;7", complete=False) == ","


# ---- limits checked before the structure they bound is built


def _never(*args, **kwargs):
    raise AssertionError("the file was read before its limits were checked")


def test_a_quote_inside_a_header_name_does_not_hide_its_columns(monkeypatch):
    import pyarrow.csv

    data = next(c for c in LIMITS if c.name == "csv_header_quote_inside_a_name").make()
    monkeypatch.setattr(pyarrow.csv, "read_csv", _never)
    with pytest.raises(DataFileError) as raised:
        parsed(data, "csv")
    assert raised.value.code == "E_DATA_TOO_MANY_COLUMNS"


_HEADER_BYTES = st.lists(st.sampled_from([b"a", b'"', b",", b";", b"\n", b"\r", b" ", b"\xef\xbb\xbf"]), max_size=14)


@settings(max_examples=400, deadline=None)
@given(_HEADER_BYTES.map(b"".join), st.sampled_from([",", ";"]))
def test_the_header_is_counted_as_pyarrow_reads_it(header, delimiter):
    """Whatever the quotes: the fields counted are the columns pyarrow builds."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from hokusai_assets.lib.intake.structure import csv_header_fields

    data = header + b"\n"
    try:
        table = pacsv.read_csv(pa.BufferReader(data), parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True))
    except Exception:  # no header pyarrow reads: nothing to compare with
        return
    assert csv_header_fields(data, delimiter, 10_000)[0] == table.num_columns


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("parquet_10m_rows_of_zeros", "E_DATA_TOO_MANY_ROWS"),
        ("parquet_cell_20mb_in_1kb", "E_DATA_CELL_TOO_LARGE"),
        ("parquet_unpacks_over_a_lowered_limit", "E_DATA_TOO_LARGE"),
    ],
)
def test_parquet_limits_are_checked_from_the_footer_before_a_page_is_read(monkeypatch, case, code):
    import pyarrow.parquet

    found = next(c for c in LIMITS if c.name == case)
    data = found.make()
    monkeypatch.setattr(pyarrow.parquet.ParquetFile, "read", _never)
    with pytest.raises(DataFileError) as raised:
        parsed(data, "parquet", found.rules)
    assert raised.value.code == code, raised.value.message


def test_a_dictionary_entry_on_every_row_is_measured_before_it_is_expanded(monkeypatch):
    from hokusai_assets.lib.intake import formats

    found = next(c for c in LIMITS if c.name == "parquet_dictionary_entry_on_every_row")
    data = found.make()
    assert len(data) < 20_000  # 100 MB expanded
    monkeypatch.setattr(formats, "_expanded", _never)  # what expands the dictionaries
    with pytest.raises(DataFileError) as raised:
        parsed(data, "parquet", found.rules)
    assert raised.value.code == "E_DATA_TOO_LARGE" and "8 x intake.max_file_bytes" in raised.value.message
    # Within the limit, the same file is read with its texts expanded.
    monkeypatch.undo()
    frame = parsed(data, "parquet", ParseRules(max_file_bytes=100_000_000))
    assert frame["note"][999] == "y" * 100_000


def test_a_dictionary_entry_over_the_cell_limit_is_refused_naming_the_rows():
    from .hostile_corpus import _dictionary_bomb

    with pytest.raises(DataFileError) as raised:
        parsed(_dictionary_bomb(2_000_000, 3), "parquet")
    assert raised.value.code == "E_DATA_CELL_TOO_LARGE" and "in rows 1, 2, 3" in raised.value.message


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet"])
def test_the_row_limit_is_checked_by_the_parser(fmt):
    data = {"csv": as_csv, "json": as_json, "jsonl": as_jsonl, "parquet": parquet_rows}[fmt](rows(20))
    with pytest.raises(DataFileError) as raised:
        parsed(data, fmt, ParseRules(max_rows=19))
    assert raised.value.code == "E_DATA_TOO_MANY_ROWS" and "intake.max_rows" in raised.value.message
    assert len(parsed(data, fmt, ParseRules(max_rows=20))) == 20


def test_the_intakes_row_and_size_limits_reach_the_parser(monkeypatch):
    import pyarrow.parquet

    from hokusai_assets.settings.config import IntakeConfig

    rules = IntakeConfig(max_rows=7, max_file_bytes=9).parse_rules()
    assert (rules.max_rows, rules.max_file_bytes) == (7, 9)
    monkeypatch.setattr(pyarrow.parquet.ParquetFile, "read", _never)
    failed = schema_misfit(parquet_rows(rows(20)), "parquet", "c.parquet", SCHEMA, IntakePolicy(max_rows=10), KEY, CLASSES)
    assert failed.metadata["code"] == "E_DATA_TOO_MANY_ROWS", failed.description


def test_a_ragged_csv_row_is_named_by_its_number_never_its_content():
    data = b"a,b\n1,2\njohn.doe@example.com:secret,2,3\n"
    with pytest.raises(DataFileError) as raised:
        parse_table(data, "csv", "x.csv")
    message = raised.value.message
    assert raised.value.code == "E_FORMAT_UNREADABLE" and "row 2 has 3 field(s), the header has 2" in message, message
    assert "john" not in message and "secret" not in message and "example" not in message


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_nan_and_infinity_are_not_json(fmt, token):
    records = rows(3)
    text = (as_json if fmt == "json" else as_jsonl)(records).replace(b'"count": 1,', b'"count": ' + token.encode() + b",")
    with pytest.raises(DataFileError) as raised:
        parsed(text, fmt)
    assert raised.value.code == "E_FORMAT_UNREADABLE"
    assert "(NaN/Infinity are not JSON); write null for a missing value" in raised.value.message
    # As text, they are values of the grammar: missing and infinite, as in a CSV cell.
    quoted = (as_json if fmt == "json" else as_jsonl)(records).replace(b'"score": 0.125', b'"score": "NaN"')
    assert parsed(quoted, fmt)["score"].isna().sum() == 1
