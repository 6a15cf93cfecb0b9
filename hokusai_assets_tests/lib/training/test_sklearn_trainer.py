import json

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import save

from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.samples.mock_task import feature_names, generate_rows
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.model import METADATA_KEY, model_from_bytes, read_model_file
from hokusai_assets.lib.training.trainers import get_trainer

CLASSIFICATION = TaskSchema("classification", "label", "int", tuple((n, "float") for n in feature_names()))
REGRESSION = TaskSchema("regression", "label", "float", tuple((n, "float") for n in feature_names()))


@pytest.fixture(scope="module")
def rows():
    return generate_rows("classification", 300, seed=5)


def test_same_rows_and_seed_give_identical_model_bytes(rows):
    first = get_trainer("sklearn", "logistic_regression", {}, 7).fit(rows, CLASSIFICATION).to_bytes()
    second = get_trainer("sklearn", "logistic_regression", {}, 7).fit(rows, CLASSIFICATION).to_bytes()
    assert first == second


def test_model_file_round_trips_to_identical_bytes_and_predictions(rows):
    model = get_trainer("sklearn", "logistic_regression", {"C": 0.5}, 1).fit(rows, CLASSIFICATION)
    data = model.to_bytes()
    loaded = model_from_bytes(data)
    assert loaded.to_bytes() == data
    original, restored = model.predict(rows), loaded.predict(rows)
    assert np.array_equal(original.proba, restored.proba)
    assert np.array_equal(original.y_pred, restored.y_pred)


def test_regression_model_round_trip():
    rows = generate_rows("regression", 200, seed=2)
    model = get_trainer("sklearn", "ridge", {"alpha": 2.0}, 0).fit(rows, REGRESSION)
    loaded = model_from_bytes(model.to_bytes())
    assert np.array_equal(model.predict(rows).y_pred, loaded.predict(rows).y_pred)


def test_more_data_from_the_same_distribution_helps():
    # One draw, split: a seed fixes the task itself (class centres), not just the sample.
    drawn = generate_rows("classification", 900, seed=5)
    training, benchmark = drawn.iloc[:300], drawn.iloc[300:]
    small = get_trainer("sklearn", "logistic_regression", {}, 0).fit(training.iloc[:40], CLASSIFICATION)
    large = get_trainer("sklearn", "logistic_regression", {}, 0).fit(training, CLASSIFICATION)
    accuracy = lambda m: float(np.mean(m.predict(benchmark).y_pred == benchmark["label"].to_numpy()))  # noqa: E731
    assert accuracy(large) > accuracy(small)


def test_unknown_class_in_model_file_is_refused(rows):
    model = get_trainer("sklearn", "logistic_regression", {}, 0).fit(rows, CLASSIFICATION)
    # A well-formed model file that names a class outside the allow-list.
    description, tensors = read_model_file(model.to_bytes())
    description["model"]["steps"][1][1]["class"] = "os.system"
    forged = save(tensors, metadata={METADATA_KEY: json.dumps(description)})
    with pytest.raises(ModelError) as error:
        model_from_bytes(forged)
    assert error.value.code == "E_MODEL_UNTRUSTED"


def test_not_a_model_file():
    with pytest.raises(ModelError) as error:
        model_from_bytes(b"\x80\x04K\x01.")  # a pickle: never loaded
    assert error.value.code == "E_MODEL_FORMAT"


def test_model_must_fit_task_type(rows):
    with pytest.raises(ModelError) as error:
        get_trainer("sklearn", "ridge", {}, 0).fit(rows, CLASSIFICATION)
    assert error.value.code == "E_MODEL_TASK_MISMATCH"


def test_unknown_hyperparameter_lists_valid_ones(rows):
    with pytest.raises(ModelError) as error:
        get_trainer("sklearn", "logistic_regression", {"learning_rate": 0.1}, 0).fit(rows, CLASSIFICATION)
    assert error.value.code == "E_MODEL_HYPERPARAMETER" and "max_iter" in error.value.message


def test_single_class_training_set_is_refused(rows):
    one_class = rows.assign(label=0)
    with pytest.raises(ModelError) as error:
        get_trainer("sklearn", "logistic_regression", {}, 0).fit(one_class, CLASSIFICATION)
    assert error.value.code == "E_MODEL_ONE_CLASS"


def test_digest_changes_with_the_training_rows(rows):
    a = get_trainer("sklearn", "logistic_regression", {}, 0).fit(rows, CLASSIFICATION).to_bytes()
    b = get_trainer("sklearn", "logistic_regression", {}, 0).fit(rows.iloc[1:], CLASSIFICATION).to_bytes()
    assert bytes_digest(a) != bytes_digest(b)


def test_string_labels_round_trip():
    rows = generate_rows("classification", 120, seed=9)
    rows["label"] = rows["label"].map({0: "cat", 1: "dog", 2: "eel"}).astype(object)
    schema = TaskSchema("classification", "label", "str", CLASSIFICATION.features)
    model = get_trainer("sklearn", "logistic_regression", {}, 0).fit(rows, schema)
    loaded = model_from_bytes(model.to_bytes())
    assert list(loaded.predict(rows).classes) == ["cat", "dog", "eel"]
    assert isinstance(pd.Series(loaded.predict(rows).y_pred)[0], str)
