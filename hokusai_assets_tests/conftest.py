from pathlib import Path

import pytest

from hokusai_assets.lib.samples.mock_task import MockTask, write_mock_task
from hokusai_assets.settings.load import Settings, load_settings


@pytest.fixture
def mock_task(tmp_path: Path) -> MockTask:
    return write_mock_task(tmp_path / "task")


@pytest.fixture
def mock_settings(mock_task: MockTask, tmp_path: Path) -> Settings:
    return load_settings(config_path=mock_task.config_path, home=tmp_path / "home", environ={})


@pytest.fixture
def regression_task(tmp_path: Path) -> MockTask:
    return write_mock_task(tmp_path / "regression-task", task_type="regression")


@pytest.fixture(autouse=True)
def _local_mlflow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests track to stores under their own temporary homes, never to a configured server."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
