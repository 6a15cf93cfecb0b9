"""Options every `hokusai` command spells the same way, and how a verification report is printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

# Where the error guard in cli.py writes an unexpected error's log: the --home given, if any.
# ``ctx.meta`` is shared by every context of one invocation, so the group sees a subcommand's.
HOME_META = "hokusai.home"


def remember_home(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """A --home option's callback: note the home for the error guard, and keep the value."""
    if value is not None:
        ctx.meta[HOME_META] = value
    return value


VERBOSE = click.option("-v", "--verbose", is_flag=True, help="Stream Dagster's run log to stderr.")
CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="hokusai.yaml (default: $HOKUSAI_CONFIG_PATH or the bundled example).",
)
HOME = click.option(
    "--home",
    type=click.Path(path_type=Path),
    callback=remember_home,
    help="HOKUSAI_HOME (default: $HOKUSAI_HOME or ./.hokusai).",
)

ACTOR = click.option("--actor", default=None, help="Who is doing this, for the audit trail (default: your user name).")


def actor_or_user(actor: str | None) -> str:
    import getpass

    return actor or getpass.getuser()


def print_verification(report, as_json: bool) -> None:
    """A check a line (or the report as JSON), then `valid`, or the first failure and exit 1."""
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for check in report.checks:
            click.echo(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    failure = report.first_failure
    if failure is not None:
        click.echo(f"invalid: {failure.name} failed: {failure.detail}", err=True)
        sys.exit(1)
    click.echo("valid", err=True)
