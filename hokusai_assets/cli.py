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


@main.command()
@click.option("--dry-run", is_flag=True, help="Run the whole graph on deterministic mock data.")
@click.option("--home", type=click.Path(path_type=Path), help="HOKUSAI_HOME (default: $HOKUSAI_HOME or ./.hokusai).")
def run(dry_run: bool, home: Path | None) -> None:
    """Materialise the whole graph headless and print the result as JSON."""
    from hokusai_assets.runner import dry_run as run_dry

    if not dry_run:
        raise click.UsageError("hokusai run needs --dry-run; to evaluate a real file use: hokusai evaluate FILE --wallet 0x...")
    home = (home or Path(os.environ.get("HOKUSAI_HOME", ".hokusai"))).expanduser().resolve()
    click.echo(json.dumps(run_dry(home).as_dict()))


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--wallet", required=True, help="The contributor's EIP-55 Ethereum address.")
@click.option("--contributor-id", default=None, help="Optional contributor identifier.")
@click.option("--license", "license_", default=None, help="Optional licence of the contributed data.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="hokusai.yaml (default: $HOKUSAI_CONFIG_PATH or the bundled example).")
@click.option("--home", type=click.Path(path_type=Path), help="HOKUSAI_HOME (default: $HOKUSAI_HOME or ./.hokusai).")
def evaluate(file: Path, wallet: str, contributor_id: str | None, license_: str | None, config_path: Path | None, home: Path | None) -> None:
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
    click.echo(json.dumps(evaluate_file(settings, file.expanduser().resolve(), contributor).as_dict()))


if __name__ == "__main__":
    main()
