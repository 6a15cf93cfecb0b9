"""A mock task's hokusai.yaml with one section's keys overridden, loaded (the settings tests' one helper)."""

from pathlib import Path

import yaml

from hokusai_assets.lib.samples.mock_task import MockTask
from hokusai_assets.settings.load import Settings, load_settings


def settings_with(mock_task: MockTask, tmp_path: Path, section: str, **values) -> Settings:
    raw = yaml.safe_load(mock_task.config_path.read_text())
    raw.setdefault(section, {}).update(values)
    path = mock_task.config_path.parent / f"with-{section}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_settings(config_path=path, home=tmp_path / "home", environ={})
