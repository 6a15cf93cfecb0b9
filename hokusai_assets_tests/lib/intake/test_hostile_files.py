"""Every hostile file gets a clear answer: the corpus of ``hostile_corpus`` through the intake's
schema steps (parse, limits, PII, conform, labels: what `hokusai validate` and `hokusai
evaluate` run first), one test per class, each case with its own answer.

A refusal is one failed ``schema_valid`` check with a code, a message naming the setting
or the column and rows, and never a cell's value; never a Python exception.
"""

import time

import pandas as pd
import pytest

from hokusai_assets.lib.intake.formats import ParseRules, parse_table
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.lib.intake.validate import IntakePolicy, schema_misfit

from .hostile_corpus import CLASSES, GRAMMAR, LEGAL, LIMITS, SCHEMA, SECRET, Case, as_csv, as_json, rows

KEY = PiiKey.from_secret(bytes(range(32)))
LIMIT_KEYS = {
    "E_DATA_TOO_DEEP": "intake.max_json_depth",
    "E_DATA_NUMBER_TOO_LONG": "intake.max_number_digits",
    "E_DATA_TOO_MANY_COLUMNS": "intake.max_columns",
    "E_DATA_CELL_TOO_LARGE": "intake.max_cell_bytes",
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
