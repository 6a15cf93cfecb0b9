"""Requests and scoring for a task with categories, texts and imputed numbers."""

import numpy as np
import pytest

from hokusai_assets.lib.samples.mixed_task import FEATURES, IMPUTATION, LABEL, generate_rows
from hokusai_assets.lib.serving.errors import ServingError
from hokusai_assets.lib.serving.requests import parse_rows
from hokusai_assets.lib.serving.scoring import score_rows
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.model import model_from_bytes
from hokusai_assets.lib.training.trainers import get_trainer

SCHEMA = TaskSchema("classification", LABEL, "int", tuple(FEATURES.items()), imputation=tuple(IMPUTATION.items()))
ROW = {"age": 33.0, "visits": 4, "monthly_spend": 20.5, "country": "DE", "comment": "great service"}


def test_strings_and_nulls_where_the_schema_allows_them():
    rows = parse_rows(
        {"records": [ROW, {**ROW, "age": None, "visits": None, "country": None, "comment": None}, {**ROW, "country": 7}]},
        SCHEMA,
        10,
    )
    assert rows[1] == {"age": None, "visits": None, "monthly_spend": 20.5, "country": None, "comment": None}
    assert rows[2]["country"] == "7"  # a number in a category is its text, as in intake


@pytest.mark.parametrize(
    "change",
    [{"monthly_spend": None}, {"comment": 5}, {"country": [1]}, {"age": "old"}, {"country": float("nan")}],
)
def test_what_the_schema_does_not_allow_is_a_type_error(change):
    with pytest.raises(ServingError) as caught:
        parse_rows({"records": [{**ROW, **change}]}, SCHEMA, 10)
    assert caught.value.code == "E_SERVE_TYPE"


def test_scoring_goes_through_the_models_encoder_and_takes_unseen_categories():
    frame = generate_rows(200, seed=1, countries=("DE", "FR"))
    frame.loc[::10, "age"] = np.nan
    model = model_from_bytes(get_trainer("sklearn", "logistic_regression", {}, 0).fit(frame, SCHEMA).to_bytes())
    rows = parse_rows({"records": [ROW, {**ROW, "country": "BR", "age": None, "comment": None}]}, SCHEMA, 10)
    answers = score_rows(model, rows)
    assert len(answers) == 2 and all(set(a["probabilities"]) == {"0", "1"} for a in answers)
    assert all(abs(sum(a["probabilities"].values()) - 1) < 1e-9 for a in answers)

