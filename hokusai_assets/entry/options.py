"""Options every `hokusai` command spells the same way."""

from __future__ import annotations

from pathlib import Path

import click

VERBOSE = click.option("-v", "--verbose", is_flag=True, help="Stream Dagster's run log to stderr.")
CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="hokusai.yaml (default: $HOKUSAI_CONFIG_PATH or the bundled example).",
)
HOME = click.option("--home", type=click.Path(path_type=Path), help="HOKUSAI_HOME (default: $HOKUSAI_HOME or ./.hokusai).")
