"""intake.quality_floors, intake.range_margin and intake.near_copy in hokusai.yaml: validated,
read into the intake policy, and in the config digest only when set to other than the defaults."""

import pytest

from hokusai_assets.lib.errors import ConfigError
from hokusai_assets.lib.intake.leakage import NearCopyRule
from hokusai_assets.lib.intake.quality import QualityFloors
from hokusai_assets_tests.settings.overrides import settings_with


def with_intake(mock_task, tmp_path, **values):
    return settings_with(mock_task, tmp_path, "intake", **values)


def test_defaults_are_the_policys_and_leave_the_digest_view_as_before(mock_settings):
    policy = mock_settings.config.intake.policy()
    assert policy.quality_floors == QualityFloors() and policy.near_copy == NearCopyRule() and policy.range_margin == 0.5
    view = mock_settings.config.digest_view()["intake"]
    assert not {"quality_floors", "range_margin", "near_copy"} & set(view)


def test_settings_are_read_into_the_policy_and_change_the_digest(mock_task, mock_settings, tmp_path):
    settings = with_intake(
        mock_task,
        tmp_path,
        quality_floors={"in_range": 0.5},
        range_margin=0.1,
        near_copy={"max_differing_features": 0, "max_standardised_distance": 0.1},
    )
    policy = settings.config.intake.policy()
    assert policy.quality_floors == QualityFloors(in_range=0.5) and policy.range_margin == 0.1
    assert policy.near_copy == NearCopyRule(max_differing_features=0, max_standardised_distance=0.1)
    assert settings.config_digest != mock_settings.config_digest
    assert settings.config.digest_view()["intake"]["quality_floors"]["in_range"] == 0.5


@pytest.mark.parametrize(
    ("intake", "names"),
    [
        ({"quality_floors": {"in_range": 1.5}}, "intake.quality_floors.in_range"),
        ({"quality_floors": {"completeness": -0.1}}, "intake.quality_floors.completeness"),
        ({"quality_floors": {"balance": 0.2}}, "intake.quality_floors.balance"),
        ({"quality_floors": {"uniqueness": "high"}}, "intake.quality_floors.uniqueness"),
        ({"range_margin": -0.1}, "intake.range_margin"),
        ({"near_copy": {"max_differing_features": 2}}, "intake.near_copy.max_differing_features"),
        ({"near_copy": {"max_standardised_distance": -1}}, "intake.near_copy.max_standardised_distance"),
        ({"near_copy": {"min_numeric_features": 0}}, "intake.near_copy.min_numeric_features"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_key(mock_task, tmp_path, intake, names):
    with pytest.raises(ConfigError) as raised:
        with_intake(mock_task, tmp_path, **intake)
    assert raised.value.code == "E_CONFIG_INVALID" and names in raised.value.message
