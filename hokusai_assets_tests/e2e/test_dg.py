"""`dg` (dagster-dg-cli) works on the project: the [tool.dg] section of pyproject.toml finds the code location."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hokusai_assets_tests.defs.test_definitions import ALL_ASSETS, ALL_JOBS, ALL_SENSORS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).with_name("dg")


def dg(*args: str, home: Path) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    # As after `. .venv/bin/activate`: dg warns when the project's venv is not the active one.
    environ.update(HOKUSAI_HOME=str(home), VIRTUAL_ENV=str(Path(sys.executable).parents[1]))
    return subprocess.run([str(DG), *args], cwd=REPO, env=environ, capture_output=True, text=True, timeout=300)


def test_dg_lists_the_graph_and_checks_the_definitions(tmp_path):
    listed = dg("list", "defs", "--json", home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    assert {asset["asset_key"] for asset in defs["assets"]} == ALL_ASSETS
    assert {job["name"] for job in defs["jobs"]} == ALL_JOBS
    assert {sensor["name"] for sensor in defs["sensors"]} == ALL_SENSORS
    assert "validated_contribution:schema_valid" in {check["key"] for check in defs["asset_checks"]}
    assert "does not match the virtual environment" not in listed.stderr

    checked = dg("check", "defs", home=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "All definitions loaded successfully." in checked.stdout + checked.stderr
