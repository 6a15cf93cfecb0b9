import os
import subprocess
import sys
from pathlib import Path

import pytest

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
