import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hokusai_assets.lib.serving.errors import ServingError
from hokusai_assets.lib.serving.requests import parse_rows
from hokusai_assets.lib.task import TaskSchema

SCHEMA = TaskSchema("classification", "label", "int", (("x", "float"), ("n", "int"), ("flag", "bool")))
GOOD = {"x": 0.5, "n": 3, "flag": True}


def code_of(body, max_rows=10) -> str:
    with pytest.raises(ServingError) as caught:
        parse_rows(body, SCHEMA, max_rows)
    return caught.value.code


def test_records_and_columns_rows_give_the_same_rows():
    records = parse_rows({"records": [GOOD, {"flag": False, "n": -1, "x": 2}]}, SCHEMA, 10)
    split = parse_rows({"columns": ["flag", "x", "n"], "rows": [[True, 0.5, 3], [False, 2, -1]]}, SCHEMA, 10)
    assert records == split == [{"x": 0.5, "n": 3, "flag": True}, {"x": 2.0, "n": -1, "flag": False}]
    assert list(records[0]) == ["x", "n", "flag"]  # schema order


@pytest.mark.parametrize(
    "body, code",
    [
        ([GOOD], "E_SERVE_BODY_SHAPE"),
        ({"records": GOOD}, "E_SERVE_BODY_SHAPE"),
        ({"records": []}, "E_SERVE_BODY_SHAPE"),
        ({"records": [GOOD], "extra": 1}, "E_SERVE_BODY_SHAPE"),
        ({"columns": ["x", "x", "n"], "rows": [[1, 2, 3]]}, "E_SERVE_BODY_SHAPE"),
        ({"columns": ["x", "n", "flag"], "rows": [[1, 2]]}, "E_SERVE_BODY_SHAPE"),
        ({"records": [{"x": 1.0, "n": 1}]}, "E_SERVE_MISSING_FEATURE"),
        ({"records": [{**GOOD, "label": 1}]}, "E_SERVE_EXTRA_FEATURE"),
        ({"records": [{**GOOD, "n": 1.5}]}, "E_SERVE_TYPE"),
        ({"records": [{**GOOD, "n": 2**63}]}, "E_SERVE_TYPE"),
        ({"records": [{**GOOD, "n": True}]}, "E_SERVE_TYPE"),
        ({"records": [{**GOOD, "x": "0.5"}]}, "E_SERVE_TYPE"),
        ({"records": [{**GOOD, "x": None}]}, "E_SERVE_TYPE"),
        ({"records": [{**GOOD, "flag": 1}]}, "E_SERVE_TYPE"),
        ({"records": [{**GOOD, "x": math.inf}]}, "E_SERVE_NOT_FINITE"),
        ({"records": [GOOD] * 11}, "E_SERVE_TOO_MANY_ROWS"),
        ({"records": [{**GOOD, "x": 10**400}]}, "E_SERVE_TYPE"),  # JSON allows it; no float holds it
        ({"records": [{**GOOD, "x": "\ud800"}]}, "E_SERVE_TYPE"),  # a lone surrogate: valid JSON
    ],
)
def test_each_bad_body_has_its_code(body, code):
    assert code_of(body) == code


def test_a_string_is_never_echoed_and_pii_is_named_by_kind():
    with pytest.raises(ServingError) as caught:
        parse_rows({"records": [{**GOOD, "x": "ana.lopez@example.com"}]}, SCHEMA, 10)
    message = caught.value.message
    assert "example.com" not in message and "email" in message and "row 0, feature 'x'" in message


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.booleans())
def test_any_value_of_the_declared_type_is_taken_as_is(x, n, flag):
    [row] = parse_rows({"records": [{"x": x, "n": n, "flag": flag}]}, SCHEMA, 1)
    assert row == {"x": x, "n": n, "flag": flag} and type(row["n"]) is int and type(row["flag"]) is bool


@given(st.one_of(st.text(), st.none(), st.lists(st.integers()), st.dictionaries(st.text(), st.integers())))
def test_anything_else_in_a_number_is_a_type_error(value):
    assert code_of({"records": [{**GOOD, "n": value}]}) == "E_SERVE_TYPE"
