"""The layers of shared/DESIGN.md as import-linter contracts (pyproject.toml): kept by the tree, broken
by any import that goes the wrong way. `make lint` and `make test` run the same contracts."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Check the package under ``root`` against the project's contracts."""
    environ = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract():
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "BROKEN" not in done.stdout


@pytest.mark.parametrize(
    "module, line, contract",
    [
        ("lib/task.py", "import dagster", "lib is plain Python"),
        ("lib/wallet.py", "import mlflow", "lib is plain Python"),
        ("services/store.py", "import hokusai_assets.defs.resources", "Layers"),
        ("lib/errors.py", "import hokusai_assets.settings.layout", "Layers"),
        ("settings/layout.py", "import click", "settings and services"),
        ("services/inbox.py", "import dagster", "settings and services"),
        ("lib/task.py", "import hokusai_assets.lib.training.model", "No import cycles"),
        ("lib/intake/formats.py", "import hokusai_assets.lib.intake.conform", "No import cycles"),
    ],
)
def test_a_violating_import_breaks_its_contract(tmp_path, module, line, contract):
    root = tmp_path / "tree"
    shutil.copytree(REPO / "hokusai_assets", root / "hokusai_assets", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    with open(root / "hokusai_assets" / module, "a", encoding="utf-8") as source:
        source.write(f"\n{line}  # the violation under test\n")
    done = lint_imports(root)
    assert done.returncode != 0, done.stdout
    broken = [text for text in done.stdout.splitlines() if text.endswith(" BROKEN")]
    assert any(text.startswith(contract) for text in broken), done.stdout
