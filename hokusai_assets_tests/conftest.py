from pathlib import Path

import pytest

from hokusai_assets.config import Settings, load_settings
from hokusai_assets.lib.mock import MockTask, write_mock_task


@pytest.fixture
def mock_task(tmp_path: Path) -> MockTask:
    return write_mock_task(tmp_path / "task")


@pytest.fixture
def mock_settings(mock_task: MockTask, tmp_path: Path) -> Settings:
    return load_settings(config_path=mock_task.config_path, home=tmp_path / "home", environ={})


@pytest.fixture
def regression_task(tmp_path: Path) -> MockTask:
    return write_mock_task(tmp_path / "regression-task", task_type="regression")
