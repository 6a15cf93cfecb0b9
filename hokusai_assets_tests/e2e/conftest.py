import os
import subprocess
import sys
from pathlib import Path

import pytest

from hokusai_assets_tests.e2e.platform import RUN_TIMEOUT, Platform, wait_for, write_platform_task

HOKUSAI = [sys.executable, "-m", "hokusai_assets.entry.cli"]


def hokusai(*args: str, home: Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a fresh process, with HOKUSAI_HOME set and no inherited config."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    environ["HOKUSAI_HOME"] = str(home)
    environ.update(env or {})
    return subprocess.run([*HOKUSAI, *args], capture_output=True, text=True, env=environ, cwd=cwd, timeout=300)


@pytest.fixture
def cli():
    return hokusai


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


@pytest.fixture(scope="session")
def attested_contribution(platform) -> tuple[str, str]:
    """The mock contribution, submitted and carried through to its attestation: (partition, run id)."""
    key = platform.submit(platform.task.contribution_path)
    run_id = wait_for(
        lambda: platform.materialized_partitions("attestation").get(key),
        RUN_TIMEOUT,
        f"attestation[{key}] materialised",
    )
    return key, run_id
