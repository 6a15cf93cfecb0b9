"""`make test` runs `pytest -n 2 --dist loadgroup`: the tests of one xdist_group must run on one
worker, or each worker builds the group's session fixtures (the platform, the servers) again.
pytest 9.2 broke that silently for pytest-xdist 3.8 (pyproject.toml pins pytest below it);
this runs a tiny suite the same way and fails if grouping stops working again."""

import subprocess
import sys

SUITE = '''
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    (Path(__file__).parent / "ran" / f"{i}-{os.environ['PYTEST_XDIST_WORKER']}").touch()
'''


def test_the_tests_of_one_group_run_on_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(SUITE)
    (tmp_path / "ran").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "-q",
         "-o", "addopts=", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ran = [path.name.split("-") for path in (tmp_path / "ran").iterdir()]
    assert len(ran) == 6
    workers = {worker for _, worker in ran}
    assert len(workers) == 1, f"one xdist_group ran on {sorted(workers)}"
