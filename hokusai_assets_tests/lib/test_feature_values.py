"""One rule for category and text values (lib.feature_values): every format at intake, the
feature encoder, and serving read a value the same way, so the model sees at serving what it
was trained on. The MLflow pyfunc's side is in services/tracking/test_pyfunc_features.py."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hokusai_assets.lib.commitments.rows import iter_canonical_rows
from hokusai_assets.lib.feature_values import category_value, feature_value, text_value
from hokusai_assets.lib.intake.conform import conform
from hokusai_assets.lib.intake.formats import parse_table
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.lib.intake.validate import IntakePolicy, IntakeReference, protect_reference, run_intake
from hokusai_assets.lib.serving.requests import parse_rows
from hokusai_assets.lib.serving.scoring import score_rows
from hokusai_assets.lib.task import TaskSchema, canonical_order
from hokusai_assets.lib.training.model import TrainedModel, model_from_bytes
from hokusai_assets.lib.training.trainers import get_trainer

KEY = PiiKey.from_secret(bytes(range(32)))
SCHEMA = TaskSchema(
    "regression", "y", "float", (("zip", "category"), ("contact", "category"), ("comment", "text"), ("x", "float"))
)
EMAIL = "jane.doe@example.org"
COLUMNS = ["zip", "contact", "comment", "x", "y"]


def _csv(rows: list[list]) -> bytes:
    return pd.DataFrame(rows, columns=COLUMNS).to_csv(index=False).encode()


def reference_rows(n: int = 120) -> pd.DataFrame:
    """Training rows as intake keeps them: read from a CSV, conformed, pseudonymised, in canonical order."""
    rng = np.random.default_rng(0)
    zips = ["02134", "2134", "10001", ""]
    contacts = [EMAIL, "phone", "none"]
    words = ["write to " + EMAIL, "great service", "slow delivery", "ok"]
    rows = []
    for i in range(n):
        z, c, w = zips[i % 4], contacts[i % 3], words[i % 4]
        x = float(rng.normal())
        y = {"02134": 2.0, "2134": -1.0, "10001": 0.5, "": 0.0}[z] + (c == EMAIL) * 1.5 + ("write" in w) * 0.7 + x
        rows.append([z, c, w, x, y])
    frame, _ = conform(parse_table(_csv(rows), "csv", "base.csv", SCHEMA.string_feature_names), SCHEMA, source="base")
    return canonical_order(protect_reference(frame, SCHEMA, KEY), SCHEMA)


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    return model_from_bytes(get_trainer("sklearn", "ridge", {}, 0).fit(reference_rows(), SCHEMA).to_bytes())


def intake_frame(data: bytes, fmt: str) -> pd.DataFrame:
    """A contribution's rows after the whole intake (one row per file: deduplication stays out of it)."""
    base = reference_rows()
    reference = IntakeReference(base, base.head(0))
    result = run_intake(data, fmt, f"c.{fmt}", SCHEMA, IntakePolicy(min_quality=0.0), KEY, reference)
    assert result.accepted, result.first_failure
    return result.frame


def encoded(model: TrainedModel, frame: pd.DataFrame) -> np.ndarray:
    return model.features(frame).to_numpy()


# --- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, value, expected",
    [
        ("category", " 02134 ", "02134"),
        ("category", "", None),
        ("category", " \t", None),
        ("category", 7.0, "7"),
        ("category", float("nan"), None),
        ("category", pd.NA, None),
        ("text", "  as written ", "  as written "),
        ("text", "", None),
        ("text", None, None),
        ("text", 12, "12"),
    ],
)
def test_the_rule(kind, value, expected):
    assert feature_value(kind, value) == expected


@given(st.one_of(st.none(), st.text(), st.integers(), st.floats(allow_nan=True), st.booleans()))
def test_the_rule_is_idempotent(value):
    # Why the encoder may apply it to intake's rows: they come out unchanged.
    for normalise in (category_value, text_value):
        once = normalise(value)
        assert normalise(once) == once


# --- intake reads category and text columns as text, in every format ------------------------


def test_a_csv_zip_code_keeps_its_leading_zero_into_the_canonical_rows():
    frame = intake_frame(_csv([["02134", "none", "ok", 1.0, 2.0]]), "csv")
    assert frame["zip"].tolist() == ["02134"]
    [row] = [json.loads(r) for r in iter_canonical_rows(frame, SCHEMA.columns)]
    assert row["zip"] == "02134"


def test_a_csv_cell_is_the_category_as_written():
    raw = parse_table(b"zip,x\n7.0,1\n0007,2\n,3\n", "csv", "c.csv", ["zip"])
    assert raw["zip"].tolist() == ["7.0", "0007", ""]  # no type inference for a declared category
    assert parse_table(b"zip,x\n0007,1\n", "csv", "c.csv")["zip"].tolist() == [7]  # other columns still inferred


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_json_number_in_a_category_is_its_json_text_with_every_digit(fmt):
    big = 2**60 + 1  # not a float64: a column of ints and nulls must not pass through float64
    records = [{"zip": big, "x": 1}, {"zip": None, "x": 2}, {"zip": 7.0, "x": 3}, {"zip": " 02134 ", "x": 4}]
    data = json.dumps(records) if fmt == "json" else "\n".join(map(json.dumps, records))
    raw = parse_table(data.encode(), fmt, f"c.{fmt}", ["zip"])
    assert raw["zip"].tolist() == [str(big), None, "7", " 02134 "]


def test_a_parquet_number_column_in_a_category_is_its_json_text_with_every_digit():
    big = 2**60 + 1
    table = pa.table({"zip": pa.array([big, None, 7], pa.int64()), "f": [7.0, 2.5, None], "s": [" a ", None, "b"]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    raw = parse_table(buffer.getvalue(), "parquet", "c.parquet", ["zip", "f", "s"])
    assert raw["zip"].tolist() == [str(big), None, "7"]
    assert raw["f"].tolist() == ["7", "2.5", None]
    assert raw["s"].tolist() == [" a ", None, "b"]  # strings are left to conform


# --- the same value gives the same encoded row at intake and at serving ----------------------


VARIANTS = [
    # (as a contributor's CSV row has it, as a request sends it): the same values
    (["02134", EMAIL, "write to " + EMAIL, 0.25], {"zip": "02134", "contact": EMAIL, "comment": "write to " + EMAIL}),
    (
        ["02134", EMAIL, "write to " + EMAIL, 0.25],
        {"zip": " 02134 ", "contact": f"  {EMAIL} ", "comment": "write to " + EMAIL},
    ),
    (["", "  ", "", 0.25], {"zip": None, "contact": None, "comment": None}),
    (["", "  ", "", 0.25], {"zip": "", "contact": "  ", "comment": ""}),
    (["2134", "none", "ok", 0.25], {"zip": 2134, "contact": "none ", "comment": "ok"}),
]


@pytest.mark.parametrize("csv_row, request_row", VARIANTS)
def test_intake_and_serving_encode_the_same_value_alike(model, csv_row, request_row):
    trained = intake_frame(_csv([[*csv_row, 0.0]]), "csv")
    rows = parse_rows({"records": [{**request_row, "x": 0.25}]}, SCHEMA, 10, KEY)
    served = pd.DataFrame(rows, columns=SCHEMA.feature_names, dtype=object)
    assert np.array_equal(encoded(model, served), encoded(model, trained))
    [answer] = score_rows(model, rows)
    assert answer["value"] == float(model.predict_features(trained)[0])


def test_a_json_null_and_an_empty_string_are_one_missing_value(model):
    lines = [
        {"zip": None, "contact": None, "comment": None, "x": 0.5, "y": 0},
        {"zip": "", "contact": " ", "comment": "", "x": 0.5, "y": 0},
    ]
    null, empty = (intake_frame(json.dumps(line).encode(), "jsonl") for line in lines)
    assert np.array_equal(encoded(model, null), encoded(model, empty))


def test_zeros_lead_to_another_category(model):
    # Guards the test above: the model does tell "02134" from "2134" and a pseudonym from its value.
    rows = [{"zip": z, "contact": "none", "comment": "ok", "x": 0.0} for z in ("02134", "2134")]
    first, second = encoded(model, pd.DataFrame(parse_rows({"records": rows}, SCHEMA, 10, KEY), dtype=object))
    assert not np.array_equal(first, second)
    clear = pd.DataFrame(parse_rows({"records": [{**rows[0], "contact": EMAIL}]}, SCHEMA, 10), dtype=object)
    keyed = pd.DataFrame(parse_rows({"records": [{**rows[0], "contact": EMAIL}]}, SCHEMA, 10, KEY), dtype=object)
    assert keyed["contact"].iloc[0].startswith("<email:")
    assert not np.array_equal(encoded(model, clear), encoded(model, keyed))


def test_the_encoder_normalises_what_it_is_given(model):
    clean = pd.DataFrame({"zip": ["02134", None], "contact": ["none", None], "comment": ["ok", None], "x": [0.0, 0.0]})
    raw = pd.DataFrame({"zip": [" 02134\t", ""], "contact": ["none ", "   "], "comment": ["ok", ""], "x": [0.0, 0.0]})
    assert np.array_equal(encoded(model, raw), encoded(model, clean))
