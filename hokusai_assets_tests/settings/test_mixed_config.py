"""task.features with category and text, and task.imputation: validated, passed to the schema,
and absent from the config digest of a task that does not use it."""

from pathlib import Path

import pytest
import yaml

from hokusai_assets.lib.errors import ConfigError
from hokusai_assets.lib.samples.mixed_task import write_mixed_task
from hokusai_assets.settings.config import parse_config
from hokusai_assets.settings.load import load_settings


def edited(task_dir: Path, mutate) -> Path:
    raw = yaml.safe_load((task_dir / "hokusai.yaml").read_text())
    mutate(raw["task"])
    path = task_dir / "edited.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def mixed(tmp_path):
    return write_mixed_task(tmp_path / "task", drift_report=False)


def test_mixed_task_config_gives_its_schema(mixed):
    schema = parse_config(mixed.config_path).task.schema()
    assert dict(schema.features)["country"] == "category" and dict(schema.features)["comment"] == "text"
    assert schema.imputation_of == {"age": "median", "visits": "most_frequent"}
    assert "imputation" in parse_config(mixed.config_path).digest_view()["task"]


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda t: t["features"].update(country="string"), "task.features.country"),
        (lambda t: t["imputation"].update(height="mean"), "'height', which is not a feature"),
        (lambda t: t["imputation"].update(country="mean"), "does not apply to category feature 'country'"),
        (lambda t: t["imputation"].update(comment="most_frequent"), "text feature 'comment'"),
        (lambda t: t["imputation"].update(age="average"), "unknown imputation 'average'"),
        (lambda t: t["imputation"].update(age="constant:abc"), "needs a finite number"),
        (lambda t: t.update(imputation=["age"]), "task.imputation"),
    ],
)
def test_bad_features_and_imputation_name_the_key(mixed, mutate, fragment):
    with pytest.raises(ConfigError) as error:
        parse_config(edited(mixed.config_path.parent, mutate))
    assert error.value.code == "E_CONFIG_INVALID" and fragment in error.value.message


def test_a_task_without_imputation_keeps_its_config_digest(mock_task, tmp_path):
    before = load_settings(config_path=mock_task.config_path, environ={})
    assert "imputation" not in before.config.digest_view()["task"]
    explicit = edited(mock_task.config_path.parent, lambda t: t.update(imputation={}))
    assert load_settings(config_path=explicit, environ={}).config_digest == before.config_digest
    imputed = edited(mock_task.config_path.parent, lambda t: t.update(imputation={"f01": "mean"}))
    assert load_settings(config_path=imputed, environ={}).config_digest != before.config_digest
