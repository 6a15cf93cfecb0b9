"""The Dagster instance of a home: its instance file (dagster.yaml) kept in step with the repo's.

Used by ``hokusai evaluate`` (runs go into the persistent instance, where ``dagster dev``
shows them) and by ``hokusai dev`` (which starts the UI and daemon on that instance).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from hokusai_assets.settings.layout import HomeLayout

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"
REPO_WORKSPACE_YAML = REPO_DAGSTER_YAML.with_name("workspace.yaml")
# The first line of the repo's dagster.yaml: a DAGSTER_HOME file that starts with it is kept
# in step with the repo; delete the line to manage the file yourself.
MANAGED_MARKER = b"# hokusai_assets: managed instance file"


def install_instance_file(layout: HomeLayout) -> Path:
    """Put the repo's dagster.yaml in DAGSTER_HOME unless an operator's own file is there.

    A file that starts with MANAGED_MARKER is ours and follows the repo's; any other (the
    PostgreSQL variant, a hand-edited one) is left exactly as it is.
    """
    layout.dagster_home.mkdir(parents=True, exist_ok=True)
    target = layout.instance_file
    if not REPO_DAGSTER_YAML.is_file():
        return target
    current = target.read_bytes() if target.is_file() else None
    if current is None or (current.startswith(MANAGED_MARKER) and current != REPO_DAGSTER_YAML.read_bytes()):
        shutil.copyfile(REPO_DAGSTER_YAML, target)
    return target


def open_instance(layout: HomeLayout) -> dg.DagsterInstance:
    """The persistent instance under HOKUSAI_HOME/dagster (see install_instance_file)."""
    install_instance_file(layout)
    return dg.DagsterInstance.from_config(str(layout.dagster_home))
