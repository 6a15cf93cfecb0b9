"""The layering rules of shared/DESIGN.md, checked rather than hoped for."""

import pkgutil
import subprocess
import sys

import hokusai_assets.lib


def test_lib_never_imports_dagster_mlflow_or_the_cli():
    modules = [f"hokusai_assets.lib.{m.name}" for m in pkgutil.iter_modules(hokusai_assets.lib.__path__)]
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'dagster', 'mlflow', 'click'} or m == 'hokusai_assets.entry.cli')\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"lib/ pulled in: {done.stdout.strip()}"


def test_importing_the_definitions_module_reads_no_config(monkeypatch, tmp_path):
    # A broken config must not break the import: it is read when Dagster loads `defs`.
    probe = "import hokusai_assets.definitions as d; print(callable(d.defs))"
    env = {"HOKUSAI_CONFIG_PATH": str(tmp_path / "missing.yaml"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
