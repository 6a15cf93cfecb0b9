"""XGBoost and LightGBM: same seed, same bytes; safe model files that predict exactly as fitted."""

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.numpy import save

from hokusai_assets.lib.errors import ConfigError, ModelError
from hokusai_assets.lib.samples.mock_task import write_mock_task
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.boosting_files import BOOSTER_TENSOR
from hokusai_assets.lib.training.model import METADATA_KEY, model_from_bytes, read_model_file
from hokusai_assets.lib.training.trainers import get_trainer
from hokusai_assets.settings.load import load_settings
from hokusai_assets_tests.lib.training.booster_fuzz import resize_lightgbm_trees

FEATURES = tuple((f"x{i}", "float") for i in range(5))
FRAMEWORKS = ("xgboost", "lightgbm")
# Subsampling makes the seed matter, so that a seed which never reached the estimator shows.
SMALL = {
    "xgboost": {"n_estimators": 12, "max_depth": 3, "subsample": 0.7, "colsample_bytree": 0.8},
    "lightgbm": {"n_estimators": 12, "num_leaves": 7, "subsample": 0.7, "subsample_freq": 1, "colsample_bytree": 0.8},
}
# case -> the task schema; the case names the label column too
CASES = {
    "binary": TaskSchema("classification", "binary", "str", FEATURES),
    "multiclass": TaskSchema("classification", "multiclass", "int", FEATURES),
    "regression": TaskSchema("regression", "target", "float", FEATURES),
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rs = np.random.RandomState(11)
    X = rs.normal(size=(240, len(FEATURES)))
    X[rs.rand(*X.shape) < 0.03] = np.nan  # both libraries route missing values; the files must keep that
    rows = pd.DataFrame(X, columns=[name for name, _ in FEATURES])
    filled = np.nan_to_num(X)
    rows["binary"] = np.where(filled[:, 0] - filled[:, 1] + rs.normal(0, 0.5, len(X)) > 0, "yes", "no")
    rows["multiclass"] = np.digitize(filled[:, 2] + filled[:, 3] + rs.normal(0, 0.5, len(X)), [-0.7, 0.7]) * 10
    rows["target"] = filled @ np.array([1.5, -2.0, 0.5, 0.0, 1.0]) + rs.normal(0, 0.3, len(X))
    return rows


def fit(framework: str, case: str, frame: pd.DataFrame, seed: int = 3):
    return get_trainer(framework, framework, SMALL[framework], seed).fit(frame, CASES[case])


def wrapper_refit(model, frame: pd.DataFrame):
    """The library's own scikit-learn estimator, fitted with the parameters the file records."""
    import lightgbm
    import xgboost

    schema = CASES[next(case for case, s in CASES.items() if s.label == model.label)]
    classes = {
        ("xgboost", "classification"): xgboost.XGBClassifier,
        ("xgboost", "regression"): xgboost.XGBRegressor,
        ("lightgbm", "classification"): lightgbm.LGBMClassifier,
        ("lightgbm", "regression"): lightgbm.LGBMRegressor,
    }
    X = frame[schema.feature_names].to_numpy(dtype="float64")
    y = frame[schema.label].to_numpy()
    if schema.task_type == "classification":
        y = np.searchsorted(model.estimator.classes_.astype(y.dtype), y)
    return classes[(model.framework, schema.task_type)](**model.estimator.params).fit(X, y), X


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_same_rows_and_seed_give_identical_bytes(framework, case, frame):
    first = fit(framework, case, frame).to_bytes()
    assert fit(framework, case, frame).to_bytes() == first
    assert fit(framework, case, frame, seed=4).to_bytes() != first  # the seed reaches the estimator


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_loaded_model_predicts_exactly_as_the_fitted_wrapper(framework, case, frame):
    model = fit(framework, case, frame)
    data = model.to_bytes()
    loaded = model_from_bytes(data)
    assert loaded.to_bytes() == data

    wrapper, X = wrapper_refit(model, frame)
    # The recorded parameters are all there is to the fit: the library refits the same booster.
    booster = wrapper.get_booster().save_raw("json") if framework == "xgboost" else wrapper.booster_.model_to_string()
    stored = read_model_file(data)[1][BOOSTER_TENSOR].tobytes()
    assert bytes(booster if framework == "xgboost" else booster.encode()) == stored

    fitted, restored = model.predict(frame), loaded.predict(frame)
    assert np.array_equal(fitted.y_pred, restored.y_pred)
    if CASES[case].task_type == "classification":
        classes = loaded.estimator.classes_
        assert np.array_equal(classes, model.estimator.classes_) and len(classes) == (2 if case == "binary" else 3)
        assert np.array_equal(classes[wrapper.predict(X)], restored.y_pred)
        assert np.array_equal(wrapper.predict_proba(X), loaded.estimator.predict_proba(X))
        assert np.array_equal(fitted.proba, restored.proba)
        assert np.allclose(restored.proba.sum(axis=1), 1.0, atol=1e-6)
    else:
        assert np.array_equal(wrapper.predict(X), loaded.estimator.predict(X))
        assert restored.y_pred.dtype == np.float64


def forge(data: bytes, edit) -> bytes:
    description, tensors = read_model_file(data)
    tensors = edit(description, tensors) or tensors
    return save(tensors, metadata={METADATA_KEY: json.dumps(description)})


def refused(data: bytes) -> ModelError:
    with pytest.raises(ModelError) as error:
        model_from_bytes(data)
    return error.value


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_files_naming_other_classes_or_formats_are_refused(framework, frame):
    data = fit(framework, "binary", frame).to_bytes()
    assert model_from_bytes(data).estimator.classes_.tolist() == ["no", "yes"]  # the untouched file loads

    other_class = forge(data, lambda d, t: d["model"].update(estimator="sklearn.ensemble.RandomForestClassifier"))
    assert refused(other_class).code == "E_MODEL_UNTRUSTED"
    pickled = forge(data, lambda d, t: d["model"]["booster"].update(format="pickle"))
    assert refused(pickled).code == "E_MODEL_FORMAT"
    other_format = forge(data, lambda d, t: d.update(format="hokusai-sklearn/v1"))
    assert refused(other_format).code == "E_MODEL_FORMAT"
    # The other library's description around this library's booster text: the text is
    # checked against the description before the library parses it.
    other = "lightgbm" if framework == "xgboost" else "xgboost"
    estimator = {"lightgbm": "lightgbm.LGBMClassifier", "xgboost": "xgboost.XGBClassifier"}[other]

    def swap(description, tensors):
        description.update(framework=other, format=f"hokusai-{other}/v1")
        description["model"]["estimator"] = estimator
        description["model"]["booster"]["format"] = "lightgbm-text" if other == "lightgbm" else "xgboost-json"

    assert refused(forge(data, swap)).code == "E_MODEL_FORMAT"
    # A pickle in place of the booster text is never handed to anything that runs it.
    payload = np.frombuffer(b"\x80\x04\x95\x00cos\nsystem\n.", dtype=np.uint8).copy()
    assert refused(forge(data, lambda d, t: {BOOSTER_TENSOR: payload})).code == "E_MODEL_FORMAT"
    extra = forge(data, lambda d, t: {**t, "hook": np.zeros(1, dtype=np.uint8)})
    assert refused(extra).code == "E_MODEL_FORMAT"
    # A description whose classes disagree with the booster (three named, two trained).
    wrong_classes = forge(data, lambda d, t: d["model"].update(classes=["a", "b", "c"]))
    assert refused(wrong_classes).code == "E_MODEL_FORMAT"


def edit_booster(data: bytes, change) -> bytes:
    """The model file with its booster text passed through ``change`` (str -> str)."""

    def edit(description, tensors):
        text = change(tensors[BOOSTER_TENSOR].tobytes().decode("utf-8")).encode("utf-8")
        return {BOOSTER_TENSOR: np.frombuffer(text, dtype=np.uint8).copy()}

    return forge(data, edit)


def edit_xgboost_tree(data: bytes, change) -> bytes:
    def on_json(text: str) -> str:
        model = json.loads(text)
        change(model["learner"]["gradient_booster"]["model"]["trees"][0])
        return json.dumps(model)

    return edit_booster(data, on_json)


def edit_lightgbm_line(data: bytes, key: str, change) -> bytes:
    """One line of the first tree (``key=...``) changed, tree_sizes recomputed (as a forger would)."""

    def on_text(text: str) -> str:
        start = text.index(f"\n{key}=", text.index("Tree=0")) + 1
        end = text.index("\n", start)
        changed = text[:start] + change(text[start:end]) + text[end:]
        return resize_lightgbm_trees(changed.encode("ascii")).decode("ascii")

    return edit_booster(data, on_text)


def test_xgboost_trees_that_would_crash_or_loop_the_library_are_refused_before_it_reads_them(frame):
    data = fit("xgboost", "multiclass", frame).to_bytes()

    def child_past_the_end(tree):
        tree["left_children"][0] = 100000

    def cycle(tree):
        tree["left_children"][0] = tree["right_children"][0] = 0

    def shared_child(tree):
        tree["right_children"][0] = tree["left_children"][0]

    def feature_past_the_end(tree):
        tree["split_indices"][0] = 5

    def short_array(tree):
        tree["split_conditions"].pop()

    def categorical(tree):
        tree["split_type"][0] = 1

    cases = {
        child_past_the_end: "child outside",
        cycle: "child outside",
        shared_child: "parents",
        feature_past_the_end: "feature outside 0..4",
        short_array: "split_conditions has",
        categorical: "categorical",
    }
    for change, words in cases.items():
        error = refused(edit_xgboost_tree(data, change))
        assert error.code == "E_MODEL_FORMAT" and words in error.message, (change.__name__, error.message)

    def gbtree(change):
        def on_json(text: str) -> str:
            model = json.loads(text)
            change(model["learner"]["gradient_booster"]["model"])
            return json.dumps(model)

        return edit_booster(data, on_json)

    one_tree_too_many = gbtree(lambda m: m["gbtree_model_param"].update(num_trees=str(len(m["trees"]) + 1)))
    assert "gbtree_model_param" in refused(one_tree_too_many).message
    third_class_of_two = gbtree(lambda m: m["tree_info"].__setitem__(0, 3))
    assert "output group" in refused(third_class_of_two).message


def test_lightgbm_trees_that_would_crash_the_library_are_refused_before_it_reads_them(frame):
    data = fit("lightgbm", "multiclass", frame).to_bytes()

    def first(value: str):
        return lambda line: line.split("=")[0] + "=" + " ".join([value, *line.split("=")[1].split(" ")[1:]])

    cases = {
        ("left_child", first("9")): "split or a leaf it does not have",
        ("left_child", first("-99")): "split or a leaf it does not have",
        ("left_child", first("0")): "child outside",
        ("split_feature", first("5")): "feature outside 0..4",
        ("decision_type", first("1")): "decision type",
        ("threshold", lambda line: line + " 0.5"): "threshold does not hold",
        ("num_cat", lambda line: "num_cat=1"): "categorical",
    }
    for (key, change), words in cases.items():
        error = refused(edit_lightgbm_line(data, key, change))
        assert error.code == "E_MODEL_FORMAT" and words in error.message, (key, error.message)
    # tree_sizes tell LightGBM where each tree starts: one byte off and it reads the wrong bytes.
    sizes = edit_booster(data, lambda t: re.sub(r"tree_sizes=(\d+)", lambda m: f"tree_sizes={int(m[1]) + 1}", t))
    assert "tree_sizes" in refused(sizes).message
    classes = edit_booster(data, lambda t: t.replace("multiclass num_class:3", "multiclass num_class:7"))
    assert "num_class:7" in refused(classes).message


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mutated_booster_numbers_are_refused_or_load_never_crash_the_process(framework, case, frame, tmp_path):
    # One number of the booster text changed per trial, 300 trials, in a process of its
    # own: a segfault, abort or endless loop there fails this test instead of the suite.
    path = tmp_path / "model.safetensors"
    path.write_bytes(fit(framework, case, frame).to_bytes())
    command = [sys.executable, "-m", "hokusai_assets_tests.lib.training.booster_fuzz", str(path), "300", "7"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    last = done.stdout.strip().splitlines()[-3:]
    assert done.returncode == 0, (done.returncode, last, done.stderr[-2000:])
    outcomes = json.loads(last[-1])
    # Both outcomes occur: edits of leaf values load, edits of indices and counts are refused.
    assert outcomes["loaded"] > 30 and outcomes["refused"] > 30, outcomes


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_unknown_model_name_says_what_to_write(framework):
    with pytest.raises(ModelError) as error:
        get_trainer(framework, "random_forest", {}, 0)
    assert error.value.code == "E_MODEL_UNKNOWN"
    assert "'random_forest'" in error.value.message and f"training.model: {framework}" in error.value.message
    # gradient_boosting, what the old model_type class names map to, is the same model.
    assert get_trainer(framework, "gradient_boosting", {}, 0).model == "gradient_boosting"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_hyperparameters_that_break_determinism_or_do_not_exist_are_named(framework, frame):
    with pytest.raises(ModelError) as error:
        get_trainer(framework, framework, {"n_jobs": 4, "random_state": 1}, 0)
    assert error.value.code == "E_MODEL_HYPERPARAMETER"
    assert "n_jobs, random_state" in error.value.message and "remove them" in error.value.message
    with pytest.raises(ModelError) as error:
        get_trainer(framework, framework, {"n_estimator": 5}, 0).fit(frame, CASES["binary"])
    assert error.value.code == "E_MODEL_HYPERPARAMETER"
    assert "n_estimator " in error.value.message and "n_estimators" in error.value.message


def test_models_of_the_two_frameworks_differ_and_are_not_interchangeable(frame):
    xgb, lgb = (fit(framework, "regression", frame) for framework in FRAMEWORKS)
    assert not np.array_equal(xgb.predict(frame).y_pred, lgb.predict(frame).y_pred)
    assert read_model_file(xgb.to_bytes())[0]["format"] != read_model_file(lgb.to_bytes())[0]["format"]


def test_config_with_framework_xgboost_loads_and_trains(tmp_path):
    task = write_mock_task(tmp_path / "task")
    raw = yaml.safe_load(task.config_path.read_text())
    raw["training"] = {"framework": "xgboost", "model": "xgboost", "hyperparameters": {"n_estimators": 5}, "seed": 9}
    task.config_path.write_text(yaml.safe_dump(raw))
    settings = load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
    training = settings.config.training
    assert (training.framework, training.model, training.seed) == ("xgboost", "xgboost", 9)
    baseline = pd.read_parquet(settings.baseline_path)
    model = get_trainer(training.framework, training.model, training.hyperparameters, training.seed).fit(
        baseline, settings.schema
    )
    assert model_from_bytes(model.to_bytes()).framework == "xgboost"

    raw["training"]["framework"] = "catboost"
    task.config_path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="training.framework"):
        load_settings(config_path=task.config_path, environ={})


def test_sklearn_training_imports_neither_xgboost_nor_lightgbm():
    # xgboost and lightgbm cost about a second each; a dry run of a scikit-learn task has 5 s.
    code = (
        "import sys\n"
        "from hokusai_assets.lib.samples.mock_task import generate_rows, feature_names\n"
        "from hokusai_assets.lib.task import TaskSchema\n"
        "from hokusai_assets.lib.training.model import model_from_bytes\n"
        "from hokusai_assets.lib.training.trainers import get_trainer\n"
        "import hokusai_assets.lib.training.boosting_trainer, hokusai_assets.lib.training.boosting_files\n"
        "schema = TaskSchema('classification', 'label', 'int', tuple((n, 'float') for n in feature_names()))\n"
        "rows = generate_rows('classification', 60, 1)\n"
        "model = get_trainer('sklearn', 'logistic_regression', {}, 0).fit(rows, schema)\n"
        "model_from_bytes(model.to_bytes())\n"
        "get_trainer('xgboost', 'xgboost', {}, 0)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'xgboost', 'lightgbm'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert result.stdout.strip() == "[]"
