"""The MLflow pyfunc reads category and text values by intake's rule (through the model's
encoder), called in process: no tracking store, no server."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.training.trainers import get_trainer
from hokusai_assets_tests.lib.test_feature_values import SCHEMA, _csv, intake_frame, reference_rows


@pytest.fixture(scope="module")
def pyfunc(tmp_path_factory):
    from hokusai_assets.services.tracking.pyfunc import HokusaiModel

    path = tmp_path_factory.mktemp("pyfunc") / "model.safetensors"
    path.write_bytes(get_trainer("sklearn", "ridge", {}, 0).fit(reference_rows(), SCHEMA).to_bytes())
    wrapper = HokusaiModel()
    wrapper.load_context(SimpleNamespace(artifacts={"model_file": str(path)}))
    return wrapper


@pytest.mark.parametrize(
    "csv_row, raw",
    [
        (["02134", "none", "ok", 0.25], {"zip": " 02134 ", "contact": "none\t", "comment": "ok"}),
        (["", "", "", 0.25], {"zip": "", "contact": "   ", "comment": ""}),
        (["", "", "", 0.25], {"zip": None, "contact": np.nan, "comment": None}),
    ],
)
def test_the_pyfunc_predicts_raw_values_as_intake_reads_them(pyfunc, csv_row, raw):
    trained = intake_frame(_csv([[*csv_row, 0.0]]), "csv")
    expected = pyfunc.model.predict_features(trained)
    got = pyfunc.predict(None, pd.DataFrame([{**raw, "x": 0.25}]))
    assert np.array_equal(got, expected)
    other = pyfunc.predict(None, pd.DataFrame([{**raw, "zip": "2134", "x": 0.25}]))
    assert not np.array_equal(other, expected)  # the zip does move the prediction
