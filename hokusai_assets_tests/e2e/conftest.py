import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hokusai_assets.lib.mock import MockTask, write_mock_task
from hokusai_assets_tests.e2e.platform import Platform

HOKUSAI = [sys.executable, "-m", "hokusai_assets.cli"]


def hokusai(*args: str, home: Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a fresh process, with HOKUSAI_HOME set and no inherited config."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    environ["HOKUSAI_HOME"] = str(home)
    environ.update(env or {})
    return subprocess.run([*HOKUSAI, *args], capture_output=True, text=True, env=environ, cwd=cwd, timeout=300)


@pytest.fixture
def cli():
    return hokusai


def write_platform_task(directory: Path, framework: str = "sklearn", epochs: int | None = None) -> MockTask:
    """A mock task whose sensor ticks every 5 s (the minimum), as the latency target assumes."""
    task = write_mock_task(directory, framework=framework)
    config = yaml.safe_load(task.config_path.read_text())
    config["intake"] = {"sensor_interval_seconds": 5}
    if epochs is not None:
        config["training"].setdefault("hyperparameters", {})["epochs"] = epochs
    task.config_path.write_text(yaml.safe_dump(config))
    return task


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    """The webserver and daemon on a mock task, shared by this worker's platform and UI tests.

    At the end every process it started must be gone.
    """
    root = tmp_path_factory.mktemp("platform")
    task = write_platform_task(root / "task")
    deployment = Platform(root / "home", task.config_path)
    deployment.task = task
    with deployment:
        yield deployment
    assert deployment.running_pids() == [], "processes left running after stop"
