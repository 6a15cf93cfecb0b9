"""The scikit-learn tree families: deterministic, pickle-free model files that load back exactly,
and that refuse a crafted file before compiled code walks its trees."""

import json
from collections.abc import Callable
from functools import cache

import numpy as np
import pytest
from safetensors.numpy import save

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.samples.mock_task import feature_names, generate_rows
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.model import METADATA_KEY, TrainedModel, model_from_bytes, read_model_file
from hokusai_assets.lib.training.sklearn_trainer import SklearnTrainer
from hokusai_assets.lib.training.trainers import get_trainer

FEATURES = tuple((name, "float") for name in feature_names())
SCHEMAS = {
    "multiclass": TaskSchema("classification", "label", "int", FEATURES),
    "binary": TaskSchema("classification", "label", "int", FEATURES),
    "regression": TaskSchema("regression", "label", "float", FEATURES),
}
FAMILIES = ("random_forest", "extra_trees", "gradient_boosting", "hist_gradient_boosting")
# Fewer trees than the defaults keep the file fast; test_defaults checks the defaults themselves.
SMALL = {
    "random_forest": {"n_estimators": 20},
    "extra_trees": {"n_estimators": 20},
    "gradient_boosting": {"n_estimators": 30},
    "hist_gradient_boosting": {"max_iter": 30},
}
CASES = [(family, task) for family in FAMILIES for task in SCHEMAS]


@cache
def _rows(task: str, split: str):
    """Training and held-out rows (one draw, so both come from the same task)."""
    drawn = generate_rows("regression" if task == "regression" else "classification", 400, seed=11)
    if task == "binary":
        drawn = drawn[drawn["label"] < 2]
    cut = len(drawn) * 2 // 3
    return (drawn.iloc[:cut] if split == "train" else drawn.iloc[cut:]).reset_index(drop=True)


def _fit(family: str, task: str, seed: int = 3, **hyperparameters) -> TrainedModel:
    trainer = get_trainer("sklearn", family, {**SMALL[family], **hyperparameters}, seed)
    return trainer.fit(_rows(task, "train"), SCHEMAS[task])


@cache
def _model_bytes(family: str, task: str) -> bytes:
    return _fit(family, task).to_bytes()


def _final(description: dict) -> dict:
    """The fitted estimator's node in a description (the Pipeline's last step)."""
    return description["model"]["steps"][-1][1]


def _forge(data: bytes, edit: Callable[[dict, dict], None]) -> bytes:
    """A well-formed model file whose description or tensors ``edit`` has changed."""
    description, tensors = read_model_file(data)
    tensors = dict(tensors)
    edit(description, tensors)
    return save(tensors, metadata={METADATA_KEY: json.dumps(description)})


def _refusal(data: bytes) -> ModelError:
    with pytest.raises(ModelError) as error:
        model_from_bytes(data)
    return error.value


def _tree_stack(description: dict) -> dict:
    return _final(description)["state"]["estimators_"]["tree_stack"]


def _node_fields(description: dict, family: str) -> dict:
    """The per-field tensors of an ensemble's tree nodes."""
    if family == "hist_gradient_boosting":
        return _final(description)["state"]["_predictors"]["predictor_stack"]["nodes"]["fields"]
    return _tree_stack(description)["trees"]["nodes"]["fields"]


@pytest.mark.parametrize(("family", "task"), CASES)
def test_two_fits_give_identical_bytes(family, task):
    assert _fit(family, task).to_bytes() == _model_bytes(family, task)


@pytest.mark.parametrize(("family", "task"), CASES)
def test_saved_model_predicts_exactly_as_the_fitted_one(family, task):
    fitted = _fit(family, task)
    loaded = model_from_bytes(fitted.to_bytes())
    assert type(loaded.estimator.steps[-1][1]) is type(fitted.estimator.steps[-1][1])
    assert loaded.to_bytes() == fitted.to_bytes()
    for split in ("train", "held_out"):
        rows = _rows(task, split)
        original, restored = fitted.predict(rows), loaded.predict(rows)
        assert np.array_equal(original.y_pred, restored.y_pred)
        if task != "regression":
            assert np.array_equal(original.proba, restored.proba)
            assert np.array_equal(original.classes, restored.classes)


@pytest.mark.parametrize("family", FAMILIES)
def test_string_labels_round_trip(family):
    train = _rows("multiclass", "train").assign(label=lambda f: f["label"].map({0: "cat", 1: "dog", 2: "eel"}))
    schema = TaskSchema("classification", "label", "str", FEATURES)
    fitted = get_trainer("sklearn", family, SMALL[family], 0).fit(train.astype({"label": object}), schema)
    loaded = model_from_bytes(fitted.to_bytes())
    assert list(loaded.predict(train).classes) == ["cat", "dog", "eel"]
    assert np.array_equal(loaded.predict(train).y_pred, fitted.predict(train).y_pred)
    assert np.array_equal(loaded.predict(train).proba, fitted.predict(train).proba)


@pytest.mark.parametrize("family", FAMILIES)
def test_an_ensemble_is_one_stack_of_tensors_however_many_trees(family):
    size = "max_iter" if family == "hist_gradient_boosting" else "n_estimators"
    few = read_model_file(_fit(family, "multiclass", **{size: 3}).to_bytes())[1]
    many = read_model_file(_fit(family, "multiclass", **{size: 40}).to_bytes())[1]
    assert sorted(few) == sorted(many)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_defaults_and_determinism_settings(task):
    schema = SCHEMAS[task]
    forest = SklearnTrainer("random_forest", {"n_jobs": 4}, seed=7)._estimator(schema)
    assert [name for name, _ in forest.steps] == ["model"]  # trees go without the scaler
    params = forest.steps[-1][1].get_params()
    assert (params["n_estimators"], params["max_depth"], params["n_jobs"], params["random_state"]) == (100, 10, 1, 7)
    suffix = "Classifier" if schema.task_type == "classification" else "Regressor"
    for family in FAMILIES:
        estimator = SklearnTrainer(family, {}, seed=7)._estimator(schema).steps[-1][1]
        assert type(estimator).__name__.endswith(suffix)
        assert estimator.get_params()["random_state"] == 7
        assert estimator.get_params().get("n_jobs", 1) == 1


def test_linear_names_keep_their_task_type():
    with pytest.raises(ModelError) as error:
        SklearnTrainer("logistic_regression", {}, 0)._estimator(SCHEMAS["regression"])
    assert error.value.code == "E_MODEL_TASK_MISMATCH" and "classification" in error.value.message
    with pytest.raises(ModelError) as error:
        SklearnTrainer("random_forests", {}, 0)._estimator(SCHEMAS["regression"])
    assert error.value.code == "E_MODEL_UNKNOWN"
    assert all(name in error.value.message for name in ("ridge", *FAMILIES))


def test_categorical_features_are_refused_before_fitting():
    with pytest.raises(ModelError) as error:
        SklearnTrainer("hist_gradient_boosting", {"categorical_features": [0]}, 0)._estimator(SCHEMAS["binary"])
    assert error.value.code == "E_MODEL_HYPERPARAMETER"


def _set_class(path: Callable[[dict], dict]) -> Callable[[dict, dict], None]:
    def edit(description: dict, tensors: dict) -> None:
        path(description)["class"] = "sklearn.svm.SVC"

    return edit


@pytest.mark.parametrize(
    ("family", "edit"),
    [
        ("random_forest", _set_class(_final)),
        ("extra_trees", _set_class(_tree_stack)),
        ("gradient_boosting", _set_class(lambda d: _final(d)["state"]["init_"]["estimator"])),
        ("hist_gradient_boosting", _set_class(lambda d: _final(d)["state"]["_bin_mapper"]["estimator"])),
    ],
    ids=["model", "forest-trees", "boosting-init", "hist-bin-mapper"],
)
def test_a_class_outside_the_allow_list_is_refused(family, edit):
    assert _refusal(_forge(_model_bytes(family, "multiclass"), edit)).code == "E_MODEL_UNTRUSTED"


def _swap_final(source: Callable[[dict], dict]) -> Callable[[dict, dict], None]:
    """Put the node ``source`` finds where the Pipeline's model step is."""

    def edit(description: dict, tensors: dict) -> None:
        description["model"]["steps"][-1][1] = source(description)

    return edit


def _nest_pipeline(description: dict, tensors: dict) -> None:
    description["model"]["steps"][-1][1] = json.loads(json.dumps(description["model"]))


def _forest_as_stack_tree(description: dict, tensors: dict) -> None:
    _tree_stack(description)["class"] = "sklearn.ensemble.RandomForestClassifier"


@pytest.mark.parametrize(
    ("family", "edit", "where"),
    [
        ("hist_gradient_boosting", _swap_final(lambda d: _final(d)["state"]["_bin_mapper"]["estimator"]), "'step'"),
        ("gradient_boosting", _swap_final(lambda d: _final(d)["state"]["init_"]["estimator"]), "'step'"),
        ("random_forest", _nest_pipeline, "'step'"),
        ("random_forest", _forest_as_stack_tree, "'tree_stack'"),
    ],
    ids=["bin-mapper-as-model", "dummy-as-model", "pipeline-in-pipeline", "forest-as-tree"],
)
def test_an_allowed_class_in_a_place_hokusai_never_puts_it_is_refused(family, edit, where):
    # Every class here is on the allow-list; the checks after loading assume each sits where
    # hokusai writes it (a _BinMapper under a HistGradientBoosting, a bare tree in a stack).
    error = _refusal(_forge(_model_bytes(family, "multiclass"), edit))
    assert error.code == "E_MODEL_UNTRUSTED" and f"at {where}" in error.message, error.message


@pytest.mark.parametrize("family", FAMILIES)
def test_tree_nodes_with_other_fields_are_refused(family):
    def rename(description: dict, tensors: dict) -> None:
        fields = _node_fields(description, family)
        first = sorted(fields)[0]
        fields[first + "_renamed"] = fields.pop(first)

    error = _refusal(_forge(_model_bytes(family, "multiclass"), rename))
    assert error.code == "E_MODEL_FORMAT"
    assert "_renamed" in error.message and "scikit-learn" in error.message


def _edit_field(family: str, field: str, change: Callable[[np.ndarray], None]) -> Callable[[dict, dict], None]:
    def edit(description: dict, tensors: dict) -> None:
        name = _node_fields(description, family)[field]["tensor"]
        tensors[name] = tensors[name].copy()
        change(tensors[name])

    return edit


def _first_split(children: np.ndarray) -> int:
    return int(np.flatnonzero(children > 0)[0])


def _point_back_to_root(children: np.ndarray) -> None:
    children[_first_split(children)] = 0


def _point_past_the_end(children: np.ndarray) -> None:
    children[_first_split(children)] = len(children) + 5


def _read_a_missing_feature(features: np.ndarray) -> None:
    features[int(np.flatnonzero(features >= 0)[0])] = len(feature_names())


@pytest.mark.parametrize(
    ("family", "field", "change"),
    [
        ("random_forest", "left_child", _point_back_to_root),
        ("extra_trees", "right_child", _point_past_the_end),
        ("gradient_boosting", "feature", _read_a_missing_feature),
        ("hist_gradient_boosting", "left", _point_back_to_root),
        ("hist_gradient_boosting", "right", _point_past_the_end),
        ("hist_gradient_boosting", "feature_idx", lambda f: f.__setitem__(0, len(feature_names()))),
    ],
)
def test_a_malformed_tree_is_refused_before_it_is_walked(family, field, change):
    error = _refusal(_forge(_model_bytes(family, "multiclass"), _edit_field(family, field, change)))
    assert error.code == "E_MODEL_FORMAT"


def test_a_tree_whose_depth_is_not_its_own_is_refused():
    def shallower(description: dict, tensors: dict) -> None:
        _tree_stack(description)["trees"]["max_depth"][0] -= 1

    error = _refusal(_forge(_model_bytes("random_forest", "regression"), shallower))
    assert error.code == "E_MODEL_FORMAT" and "depth" in error.message


def test_a_boosting_grid_wider_than_its_initial_prediction_is_refused():
    # The stages write column k of the initial prediction without bounds checks.
    def one_stage_per_column(description: dict, tensors: dict) -> None:
        stack = _tree_stack(description)
        stack["shape"] = list(reversed(stack["shape"]))

    error = _refusal(_forge(_model_bytes("gradient_boosting", "multiclass"), one_stage_per_column))
    assert error.code == "E_MODEL_FORMAT"


def _unknown_init_strategy(description: dict, tensors: dict) -> None:
    _final(description)["state"]["init_"]["estimator"]["state"]["_strategy"] = {"value": "nonsense"}


def _feature_names_not_a_list(description: dict, tensors: dict) -> None:
    description["feature_names"] = 7


@pytest.mark.parametrize("edit", [_unknown_init_strategy, _feature_names_not_a_list], ids=["init-strategy", "names"])
def test_a_file_that_trips_the_library_itself_is_a_format_error_not_a_crash(edit):
    """What no check names (scikit-learn failing inside its own code on a crafted value)
    is still E_MODEL_FORMAT, never a TypeError or UnboundLocalError for the caller."""
    error = _refusal(_forge(_model_bytes("gradient_boosting", "binary"), edit))
    assert error.code in {"E_MODEL_FORMAT", "E_MODEL_UNTRUSTED"}
