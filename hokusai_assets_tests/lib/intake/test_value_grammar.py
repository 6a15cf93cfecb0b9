"""The value grammar of int, float and bool columns (``lib.intake.values``), as properties that
hold in every format: CSV, JSON, JSON Lines and Parquet."""

import csv
import io
import json
import math
import re
import struct
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.intake.conform import conform
from hokusai_assets.lib.intake.formats import parse_table
from hokusai_assets.lib.intake.values import (
    FLOAT_TEXT,
    INT64_MAX,
    INT64_MIN,
    MISSING_TEXTS,
    NumberLiteral,
    parse_values,
)
from hokusai_assets.lib.task import TaskSchema

FORMATS = ["csv", "json", "jsonl", "parquet"]
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ASCII_SPACE = " \t\n\v\f\r"


def schema(kind: str) -> TaskSchema:
    return TaskSchema("regression", "y", "float", (("x", kind),))


def file_of(fmt: str, cell: object, arrow_type: pa.DataType | None = None) -> bytes:
    """A one-row file: ``x`` holds ``cell`` (text in CSV; in JSON its JSON value, or the raw
    number literal when ``cell`` is a NumberLiteral), ``y`` is 0.5."""
    if fmt == "csv":
        out = io.StringIO()
        # "\r\n" makes the writer quote a cell holding either line end, as a CSV file must.
        csv.writer(out, lineterminator="\r\n").writerows([["x", "y"], [cell, "0.5"]])
        return out.getvalue().encode()
    if fmt in ("json", "jsonl"):
        value = cell.text if isinstance(cell, NumberLiteral) else json.dumps(cell, ensure_ascii=False)
        record = '{"x": ' + value + ', "y": 0.5}'
        return (f"[{record}]" if fmt == "json" else record + "\n").encode()
    out = io.BytesIO()
    pq.write_table(pa.table({"x": pa.array([cell], type=arrow_type), "y": [0.5]}), out)
    return out.getvalue()


def read(fmt: str, data: bytes, kind: str):
    """The conformed value of ``x``, or the refusal's code."""
    task = schema(kind)
    try:
        raw = parse_table(data, fmt, f"t.{fmt}", task.string_feature_names, task.numeric_columns)
        frame, _ = conform(raw, task, source="t")
    except HokusaiError as error:
        return error.code
    value = frame["x"][0]
    return value.item() if hasattr(value, "item") else value


# ---- int


@PROPERTY
@given(value=st.integers(INT64_MIN, INT64_MAX), fmt=st.sampled_from(FORMATS))
@example(value=INT64_MAX, fmt="json")
@example(value=INT64_MIN, fmt="csv")
@example(value=2**53 + 1, fmt="jsonl")
def test_any_int64_written_in_decimal_round_trips_exactly(value, fmt):
    cell = str(value) if fmt == "csv" else value
    assert read(fmt, file_of(fmt, cell, pa.int64()), "int") == value


def int_oracle(text: str):
    """What the grammar says ``text`` is for an int column: its value, or how it is refused."""
    core = text.strip(ASCII_SPACE)
    if core in MISSING_TEXTS or re.fullmatch(r"[+-]?(inf|infinity)", core, re.IGNORECASE):
        return "E_SCHEMA_MISSING_VALUE"  # missing or infinite: intake.nan_policy (reject here)
    if not re.fullmatch(r"[+-]?[0-9]+(\.0*)?", core):
        return "E_SCHEMA_TYPE"
    if sum(c.isdigit() for c in core) > 100:
        return "E_DATA_NUMBER_TOO_LONG"
    value = int(Decimal(core))
    return value if INT64_MIN <= value <= INT64_MAX else "E_SCHEMA_TYPE"


near_ints = st.one_of(
    st.text(),
    st.text(alphabet="0123456789+-.eExX_ \t,;", max_size=25),
    st.integers().map(str),
    st.integers(-(2**70), 2**70).map(lambda n: f" {n}.{'0' * (n % 3)} "),
    st.sampled_from(["0x10", "1e3", "2.5", "true", "NaN", "inf", "+7", "007", "3.", ".0", "١٢", "9223372036854775808"]),
)


@PROPERTY
@given(text=near_ints, fmt=st.sampled_from(["csv", "json", "parquet"]))
def test_a_text_is_an_int_exactly_when_it_is_a_decimal_integer_within_int64(text, fmt):
    expected = int_oracle(text)
    data = file_of(fmt, text, pa.string())
    got = read(fmt, data, "int")
    if fmt == "csv" and "\x00" in text:
        assert got == "E_FORMAT_BINARY"
    else:
        assert got == expected, (text, got)


# ---- float


def same_double(a: float, b: float) -> bool:
    return struct.pack("<d", a) == struct.pack("<d", b)


@PROPERTY
@given(value=st.floats(allow_nan=False, allow_infinity=False), fmt=st.sampled_from(FORMATS))
@example(value=-0.0, fmt="json")
@example(value=5e-324, fmt="csv")
@example(value=1.7976931348623157e308, fmt="jsonl")
@example(value=0.1 + 0.2, fmt="csv")
def test_any_finite_double_round_trips_exactly(value, fmt):
    cell = repr(value) if fmt == "csv" else value
    assert same_double(read(fmt, file_of(fmt, cell, pa.float64()), "float"), value)


decimal_literals = st.from_regex(FLOAT_TEXT.replace("^", r"\A").replace("$", r"\Z"), fullmatch=True)


@PROPERTY
@given(text=decimal_literals)
def test_a_decimal_literal_is_the_nearest_double_or_refused_when_none_is_finite(text):
    """Arrow's parser, which reads the cells, rounds as Python's correctly rounded float() does."""
    if sum(c.isdigit() for c in text) > 100:
        return
    expected = float(text)
    got = parse_values([text], "float", column="x", source="t", max_digits=100) if math.isfinite(expected) else None
    if got is None:
        with pytest.raises(HokusaiError) as raised:
            parse_values([text], "float", column="x", source="t")
        assert raised.value.code == "E_SCHEMA_TYPE"
    else:
        assert same_double(got.values[0], expected)


json_numbers = st.from_regex(r"\A-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?\Z", fullmatch=True)


@PROPERTY
@given(text=json_numbers)
@example(text="3.0000000000000001")
@example(text="9007199254740993.0")
@example(text="1E+2")
@example(text="-0.0")
def test_a_json_number_gets_the_answer_its_text_gets_in_a_csv_cell(text):
    """A JSON number is read by its literal where the double would not tell (see NumberLiteral)."""
    for kind in ("int", "float", "bool"):
        in_json = read("json", file_of("json", NumberLiteral(float(text), text)), kind)
        in_csv = read("csv", file_of("csv", text), kind)
        assert in_json == in_csv or (isinstance(in_json, float) and same_double(in_json, in_csv)), (kind, in_json, in_csv)


# ---- bool and the typed refusals


@PROPERTY
@given(text=st.one_of(st.text(max_size=8), st.sampled_from(["true", "FALSE", " 1 ", "0.0", "1.00", "2", "yes", "-0"])))
def test_a_text_is_a_bool_when_it_is_true_false_or_an_int_of_zero_or_one(text):
    core = text.strip(ASCII_SPACE)
    if core.lower() in ("true", "false"):
        expected = core.lower() == "true"
    elif isinstance(int_oracle(text), int) and int_oracle(text) in (0, 1):
        expected = int_oracle(text) == 1
    elif core in MISSING_TEXTS:
        expected = "E_SCHEMA_MISSING_VALUE"
    else:
        expected = "E_SCHEMA_TYPE"
    assert read("csv", file_of("csv", text), "bool") == expected or "\x00" in text


@pytest.mark.parametrize("fmt", ["json", "jsonl", "parquet"])
@pytest.mark.parametrize("kind", ["int", "float"])
def test_a_boolean_is_never_a_number(fmt, kind):
    assert read(fmt, file_of(fmt, True, pa.bool_()), kind) == "E_SCHEMA_TYPE"
    assert read(fmt, file_of(fmt, True, pa.bool_()), "bool") is True


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_numbers_that_only_their_literal_tells_apart(fmt):
    def literal(text):
        return read(fmt, file_of(fmt, NumberLiteral(float(text), text)), "int")

    assert literal("3.0") == 3 and literal("-0.0") == 0
    assert literal("9007199254740993.0") == 9007199254740993  # a double would make it ...992
    assert literal("3.0000000000000001") == "E_SCHEMA_TYPE"  # a double would make it 3.0
    assert literal("1e2") == "E_SCHEMA_TYPE"
    assert read(fmt, file_of(fmt, NumberLiteral(math.inf, "1e400")), "float") == "E_SCHEMA_TYPE"
