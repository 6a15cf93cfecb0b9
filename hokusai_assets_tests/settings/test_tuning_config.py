"""training.tuning in hokusai.yaml: validated, in the config digest only when present."""

import pytest

from hokusai_assets.lib.errors import ConfigError
from hokusai_assets_tests.settings.overrides import settings_with


def with_training(mock_task, tmp_path, **values):
    return settings_with(mock_task, tmp_path, "training", **values)


def test_without_tuning_the_digest_view_is_as_before(mock_settings):
    assert mock_settings.config.training.tuning is None
    assert "tuning" not in mock_settings.config.digest_view()["training"]


def test_tuning_is_read_and_changes_the_config_digest(mock_task, mock_settings, tmp_path):
    tuned = with_training(mock_task, tmp_path, tuning={"method": "optuna", "trials": 4, "cv_folds": 3, "seed": 5})
    tuning = tuned.config.training.tuning
    assert (tuning.method, tuning.trials, tuning.cv_folds, tuning.seed) == ("optuna", 4, 3, 5)
    assert tuned.config.digest_view()["training"]["tuning"]["trials"] == 4
    assert tuned.config_digest != mock_settings.config_digest
    other = with_training(mock_task, tmp_path, tuning={"method": "optuna", "trials": 5, "cv_folds": 3, "seed": 5})
    assert other.config_digest != tuned.config_digest


@pytest.mark.parametrize(
    ("tuning", "names"),
    [
        ({"trials": 0}, "training.tuning.trials"),
        ({"cv_folds": 1}, "training.tuning.cv_folds"),
        ({"method": "grid"}, "training.tuning.method"),
        ({"trails": 10}, "training.tuning.trails"),
    ],
)
def test_bad_tuning_settings_are_config_errors_naming_the_key(mock_task, tmp_path, tuning, names):
    with pytest.raises(ConfigError) as raised:
        with_training(mock_task, tmp_path, tuning=tuning)
    assert raised.value.code == "E_CONFIG_INVALID" and names in raised.value.message
