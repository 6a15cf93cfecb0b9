"""The ``hokusai`` command."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from hokusai_assets.lib.errors import HokusaiError

EXIT_ERROR = 2


def _fail(error: HokusaiError) -> None:
    click.echo(f"error[{error.code}]: {error.message}", err=True)
    sys.exit(EXIT_ERROR)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        # Every deliberate error is one line on stderr and a non-zero exit, never a traceback.
        try:
            return super().invoke(ctx)
        except HokusaiError as error:
            _fail(error)


@click.group(cls=_Group)
@click.version_option(package_name="hokusai_assets")
def main() -> None:
    """Measure how much a contributed dataset improves a model, and attest it."""


VERBOSE = click.option("-v", "--verbose", is_flag=True, help="Stream Dagster's run log to stderr.")


@main.command()
@click.option("--dry-run", is_flag=True, help="Run the whole graph on deterministic mock data.")
@click.option("--home", type=click.Path(path_type=Path), help="HOKUSAI_HOME (default: $HOKUSAI_HOME or ./.hokusai).")
@VERBOSE
def run(dry_run: bool, home: Path | None, verbose: bool) -> None:
    """Materialise the whole graph headless and print the result as JSON."""
    from hokusai_assets.runner import dry_run as run_dry

    if not dry_run:
        raise click.UsageError("hokusai run needs --dry-run; to evaluate a real file use: hokusai evaluate FILE --wallet 0x...")
    home = (home or Path(os.environ.get("HOKUSAI_HOME", ".hokusai"))).expanduser().resolve()
    click.echo(json.dumps(run_dry(home, verbose=verbose).as_dict()))


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--wallet", required=True, help="The contributor's EIP-55 Ethereum address.")
@click.option("--contributor-id", default=None, help="Optional contributor identifier.")
@click.option("--license", "license_", default=None, help="Optional licence of the contributed data.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="hokusai.yaml (default: $HOKUSAI_CONFIG_PATH or the bundled example).")
@click.option("--home", type=click.Path(path_type=Path), help="HOKUSAI_HOME (default: $HOKUSAI_HOME or ./.hokusai).")
@VERBOSE
def evaluate(
    file: Path,
    wallet: str,
    contributor_id: str | None,
    license_: str | None,
    config_path: Path | None,
    home: Path | None,
    verbose: bool,
) -> None:
    """Evaluate FILE against the configured task and print the result as JSON."""
    from hokusai_assets.config import load_settings
    from hokusai_assets.lib.store import Contributor
    from hokusai_assets.lib.wallet import normalise_wallet
    from hokusai_assets.runner import evaluate_file

    settings = load_settings(config_path=config_path, home=home)
    contributor = Contributor(
        wallet=normalise_wallet(wallet, allow_lowercase=settings.config.intake.allow_lowercase_wallet),
        contributor_id=contributor_id,
        license=license_,
    )
    outcome = evaluate_file(settings, file.expanduser().resolve(), contributor, verbose=verbose)
    click.echo(json.dumps(outcome.as_dict()))


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--wallet", required=True, help="The contributor's EIP-55 Ethereum address.")
@click.option("--contributor-id", default=None, help="Optional contributor identifier.")
@click.option("--license", "license_", default=None, help="Optional licence of the contributed data.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="hokusai.yaml (default: $HOKUSAI_CONFIG_PATH or the bundled example).")
@click.option("--home", type=click.Path(path_type=Path), help="HOKUSAI_HOME (default: $HOKUSAI_HOME or ./.hokusai).")
def submit(
    file: Path, wallet: str, contributor_id: str | None, license_: str | None, config_path: Path | None, home: Path | None
) -> None:
    """Put FILE and its contributor sidecar into the inbox, where contribution_sensor picks it up."""
    from hokusai_assets.config import load_settings
    from hokusai_assets.lib.store import Contributor
    from hokusai_assets.lib.wallet import normalise_wallet
    from hokusai_assets.intake import submit_file

    settings = load_settings(config_path=config_path, home=home)
    contributor = Contributor(
        wallet=normalise_wallet(wallet, allow_lowercase=settings.config.intake.allow_lowercase_wallet),
        contributor_id=contributor_id,
        license=license_,
    )
    click.echo(json.dumps(submit_file(settings, file.expanduser().resolve(), contributor)))


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="hokusai.yaml (default: $HOKUSAI_CONFIG_PATH or the bundled example).")
@click.option("--home", type=click.Path(path_type=Path), help="HOKUSAI_HOME (default: $HOKUSAI_HOME or ./.hokusai).")
def validate(file: Path, as_json: bool, config_path: Path | None, home: Path | None) -> None:
    """Run the full intake on FILE without Dagster. Exit 0 if it would be accepted, 2 if not."""
    from hokusai_assets.config import load_settings
    from hokusai_assets.intake import validate_file

    settings = load_settings(config_path=config_path, home=home)
    result = validate_file(settings, file.expanduser().resolve())
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        for check in result.checks.values():
            mark = "PASS" if check.passed else ("FAIL" if check.blocking else "WARN")
            click.echo(f"{mark}  {check.name}: {check.description}")
        verdict = "accepted" if result.accepted else "rejected"
        click.echo(f"{file.name}: {verdict} ({result.report.get('rows_validated', 0)} rows would be used)")
    if not result.accepted:
        failure = result.first_failure
        code = failure.metadata.get("code", f"E_CHECK_{failure.name.upper()}")
        click.echo(f"error[{code}]: {failure.description}", err=True)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
