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
