"""intake.max_columns, max_cell_bytes, max_number_digits, max_json_depth and trim_headers in
hokusai.yaml: validated, read into the parser's rules, and in the config digest only when
set to other than the defaults."""

import pytest

from hokusai_assets.lib.errors import ConfigError
from hokusai_assets.lib.intake.formats import ParseRules
from hokusai_assets.services.intake import validate_file
from hokusai_assets_tests.settings.overrides import settings_with

KEYS = ("max_columns", "max_cell_bytes", "max_number_digits", "max_json_depth", "trim_headers")


def with_intake(mock_task, tmp_path, **values):
    return settings_with(mock_task, tmp_path, "intake", **values)


def test_defaults_are_the_rules_and_leave_the_digest_view_as_before(mock_settings):
    assert mock_settings.config.intake.parse_rules() == ParseRules()
    assert mock_settings.config.intake.policy().parse == ParseRules()
    assert not set(KEYS) & set(mock_settings.config.digest_view()["intake"])


def test_settings_reach_the_intake_and_change_the_digest(mock_task, mock_settings, tmp_path):
    settings = with_intake(mock_task, tmp_path, max_columns=13, trim_headers=True)
    assert settings.config.intake.policy().parse == ParseRules(max_columns=13, trim_headers=True)
    assert settings.config_digest != mock_settings.config_digest
    # The baseline and benchmark (13 columns) are read under the same rules; one column more is refused.
    wider = tmp_path / "wider.csv"
    lines = mock_task.contribution_path.read_text().splitlines()
    wider.write_text("\n".join([lines[0] + ",notes"] + [line + ",x" for line in lines[1:]]) + "\n")
    failure = validate_file(settings, wider).first_failure
    assert failure.code == "E_DATA_TOO_MANY_COLUMNS" and "intake.max_columns" in failure.description


@pytest.mark.parametrize(
    ("intake", "key"),
    [
        ({"max_columns": 0}, "intake.max_columns"),
        ({"max_cell_bytes": -1}, "intake.max_cell_bytes"),
        ({"max_number_digits": 5000}, "intake.max_number_digits"),  # past Python's int conversion limit
        ({"max_json_depth": 1000}, "intake.max_json_depth"),  # past Python's recursion limit
        ({"trim_headers": "sometimes"}, "intake.trim_headers"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_key(mock_task, tmp_path, intake, key):
    with pytest.raises(ConfigError) as raised:
        with_intake(mock_task, tmp_path, **intake)
    assert key in raised.value.message
