import shutil
from pathlib import Path

import pytest
import yaml

from hokusai_assets.lib.errors import ConfigError
from hokusai_assets.settings.load import BUNDLED_CONFIG, load_settings


def write_config(directory: Path, mutate) -> Path:
    """Copy the mock task's config into ``directory`` after ``mutate``-ing it."""
    raw = yaml.safe_load((directory / "hokusai.yaml").read_text())
    mutate(raw)
    path = directory / "edited.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_bundled_example_is_the_default(tmp_path):
    settings = load_settings(environ={"HOKUSAI_HOME": str(tmp_path)})
    assert settings.config_path == BUNDLED_CONFIG.resolve()
    assert settings.config.task.name == "digits" and len(settings.schema.features) == 64
    assert settings.home == tmp_path.resolve()
    assert settings.baseline_path.is_file() and settings.benchmark_path.is_file()


def test_environment_overrides_and_explicit_arguments_win(mock_task, tmp_path):
    env = {"HOKUSAI_CONFIG_PATH": str(mock_task.config_path), "HOKUSAI_HOME": str(tmp_path / "env-home")}
    from_env = load_settings(environ=env)
    assert from_env.config.task.name == "mock_classification"
    assert from_env.home == (tmp_path / "env-home").resolve()
    explicit = load_settings(config_path=BUNDLED_CONFIG, home=tmp_path / "arg-home", environ=env)
    assert explicit.config.task.name == "digits" and explicit.home == (tmp_path / "arg-home").resolve()


def test_loading_settings_writes_nothing(mock_task, tmp_path):
    settings = load_settings(config_path=mock_task.config_path, home=tmp_path / "never", environ={})
    assert not settings.home.exists()


def test_unknown_key_is_named(mock_task):
    path = write_config(mock_task.config_path.parent, lambda c: c["training"].update(sed=1))
    with pytest.raises(ConfigError) as error:
        load_settings(config_path=path, environ={})
    assert error.value.code == "E_CONFIG_INVALID"
    assert "unknown key 'training.sed'" in error.value.message and str(path) in error.value.message


def test_wrong_type_is_named(mock_task):
    path = write_config(mock_task.config_path.parent, lambda c: c["training"].update(seed="forty-two"))
    with pytest.raises(ConfigError, match="'training.seed'"):
        load_settings(config_path=path, environ={})


def test_metric_must_fit_task_type(mock_task):
    path = write_config(mock_task.config_path.parent, lambda c: c["evaluation"].update(metrics=["accuracy", "mse"]))
    with pytest.raises(ConfigError, match="mse not valid for a classification task"):
        load_settings(config_path=path, environ={})


def test_update_strategy_needs_id_column(mock_task):
    path = write_config(mock_task.config_path.parent, lambda c: c.update(integration={"strategy": "update"}))
    with pytest.raises(ConfigError, match="id_column"):
        load_settings(config_path=path, environ={})


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_settings(config_path=tmp_path / "nope.yaml", environ={})
    assert error.value.code == "E_CONFIG_MISSING"


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "hokusai.yaml"
    path.write_text("task:\n  name: x\n  type: [classification\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config_path=path, environ={})
    assert error.value.code == "E_CONFIG_SYNTAX" and "line" in error.value.message


def test_missing_baseline_file_is_named(mock_task):
    (mock_task.config_path.parent / "baseline.parquet").unlink()
    with pytest.raises(ConfigError) as error:
        load_settings(config_path=mock_task.config_path, environ={})
    assert error.value.code == "E_CONFIG_DATA_MISSING" and "task.baseline_data" in error.value.message


def test_config_digest_ignores_locations_but_not_settings(mock_task, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(mock_task.config_path.parent, moved)
    a = load_settings(config_path=mock_task.config_path, home=tmp_path / "h1", environ={})
    b = load_settings(config_path=moved / "hokusai.yaml", home=tmp_path / "h2", environ={})
    assert a.config_digest == b.config_digest
    path = write_config(moved, lambda c: c["training"].update(seed=1))
    assert load_settings(config_path=path, environ={}).config_digest != a.config_digest


def test_evaluation_policy_defaults_follow_task_type(regression_task):
    settings = load_settings(config_path=regression_task.config_path, environ={})
    policy = settings.config.evaluation_policy()
    assert policy.metrics == ("mse", "mae", "r2", "mape") and policy.primary_metric == "mse"


# --- the replaced pipeline's training config, as written ----------------------------------

OLD_TRAINING = {
    "framework": "scikit-learn",
    "model_type": "RandomForestClassifier",
    "hyperparameters": {"n_estimators": 100, "max_depth": 10},
}


def test_the_old_pipelines_training_config_runs_as_written(mock_task):
    from hokusai_assets.lib.training.trainers import get_trainer

    old = write_config(mock_task.config_path.parent, lambda c: c.update(training=dict(OLD_TRAINING)))
    settings = load_settings(config_path=old, environ={})
    training = settings.config.training
    assert (training.framework, training.model) == ("sklearn", "random_forest")
    trainer = get_trainer(training.framework, training.model, training.hyperparameters, training.seed)
    forest = trainer._estimator(settings.schema).steps[-1][1]
    assert type(forest).__name__ == "RandomForestClassifier"
    assert (forest.n_estimators, forest.max_depth) == (100, 10)

    # The same training said in our words has the same config digest.
    ours = {"framework": "sklearn", "model": "random_forest", "hyperparameters": {"n_estimators": 100, "max_depth": 10}}
    new = write_config(mock_task.config_path.parent, lambda c: c.update(training=ours))
    assert load_settings(config_path=new, environ={}).config_digest == settings.config_digest


@pytest.mark.parametrize(
    ("training", "hint"),
    [
        ({"model_type": "RandomForestRegressor"}, "is a regression model, but task.type is classification"),
        ({"model_type": "SVC"}, "is not a class hokusai trains"),
        ({"model_type": "RandomForestClassifier", "model": "ridge"}, "keep one of them"),
        ({"model_type": "XGBClassifier", "framework": "lightgbm"}, "drop one of them"),
    ],
)
def test_old_spellings_that_do_not_fit_are_named(mock_task, training, hint):
    path = write_config(mock_task.config_path.parent, lambda c: c.update(training=training))
    with pytest.raises(ConfigError) as error:
        load_settings(config_path=path, environ={})
    assert error.value.code == "E_CONFIG_INVALID" and hint in error.value.message


@pytest.mark.parametrize(
    ("training", "expected"),
    [
        ({"model_type": "XGBClassifier"}, ("xgboost", "xgboost")),
        ({"model_type": "LGBMClassifier"}, ("lightgbm", "lightgbm")),
        ({"framework": "xgboost"}, ("xgboost", "xgboost")),  # the framework's one model by default
        ({"framework": "lightgbm"}, ("lightgbm", "lightgbm")),
        ({"framework": "scikit-learn", "model_type": "HistGradientBoostingClassifier"}, ("sklearn", "hist_gradient_boosting")),
        ({"model_type": "LogisticRegression"}, ("sklearn", "logistic_regression")),
    ],
)
def test_old_class_names_and_framework_defaults(mock_task, training, expected):
    path = write_config(mock_task.config_path.parent, lambda c: c.update(training=training))
    config = load_settings(config_path=path, environ={}).config
    assert (config.training.framework, config.training.model) == expected
