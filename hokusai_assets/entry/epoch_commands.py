"""`hokusai epoch close`, `hokusai verify-epoch` and `hokusai prove-payout`: reward epochs from the shell.

Registered on the `hokusai` group in ``cli.py``, whose error guard turns our errors into
one `error[CODE]: ...` line and exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from hokusai_assets.entry.options import CONFIG, HOME, VERBOSE, print_verification


@click.group()
def epoch() -> None:
    """Reward epochs: close one, pay its pool, sign its payout root (README, "Rewards")."""


@epoch.command("close")
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Daily epochs: the UTC day to close (default: yesterday).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@CONFIG
@HOME
@VERBOSE
def epoch_close(day, as_json: bool, config_path: Path | None, home: Path | None, verbose: bool) -> None:
    """Close the next epoch and value it: prints its id, payout root, attestation and every wallet's amount."""
    from hokusai_assets.entry.runner import close_epoch
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config_path, home=home)
    click.echo(
        f"closing a reward epoch under {settings.home} (every coalition is a model fit; -v streams the run log)",
        err=True,
    )
    outcome = close_epoch(settings, day=day.date() if day else None, verbose=verbose)
    if as_json:
        click.echo(json.dumps(outcome.as_dict()))
        return
    if outcome.reused:
        click.echo(f"{outcome.epoch} was attested already: its signed result, nothing recomputed", err=True)
    click.echo(f"epoch        {outcome.epoch}")
    click.echo(f"payout root  {outcome.payout_root or 'none (nobody is paid)'}")
    click.echo(f"attestation  {outcome.attestation}")
    click.echo(f"paid         {outcome.total} of a pool of {outcome.pool}")
    for wallet, amount in outcome.amounts.items():
        click.echo(f"  {wallet}  {amount}")


@click.command("verify-epoch")
@click.argument("epoch_path", type=click.Path(path_type=Path))
@click.option(
    "--attester",
    type=click.Path(path_type=Path),
    help="The attester's public keys you trust (default: attester.json in the epoch).",
)
@click.option(
    "--rerun", is_flag=True, help="Retrain every coalition from the inputs stored under HOKUSAI_HOME and compare."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@CONFIG
@HOME
def verify_epoch(
    epoch_path: Path, attester: Path | None, rerun: bool, as_json: bool, config_path: Path | None, home: Path | None
) -> None:
    """Check a reward epoch from its files alone. Exit 0 if valid, 1 naming the first failed check."""
    from hokusai_assets.lib.attestation.verify.base import Check
    from hokusai_assets.services.epoch_files import epoch_files, verify_epoch_files

    report = verify_epoch_files(epoch_files(epoch_path.expanduser().resolve()), attester)
    if rerun:
        if not report.ok:
            report.checks.append(Check("rerun", False, "skipped: the epoch's files are invalid"))
        else:
            from hokusai_assets.services.epoch_rerun import rerun_epoch_checks
            from hokusai_assets.settings.load import load_settings

            report.checks.extend(
                rerun_epoch_checks(report.statement, load_settings(config_path=config_path, home=home))
            )
    print_verification(report, as_json)


@click.command("prove-payout")
@click.argument("epoch_id")
@click.argument("wallet")
@click.option(
    "--attester",
    type=click.Path(path_type=Path),
    help="The attester's public keys you trust (default: attester.json in the epoch).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the proof as JSON.")
@CONFIG
@HOME
def prove_payout(
    epoch_id: str, wallet: str, attester: Path | None, as_json: bool, config_path: Path | None, home: Path | None
) -> None:
    """Print WALLET's amount in EPOCH_ID and its Merkle proof (for MerkleProof.verify), once the epoch verifies."""
    from hokusai_assets.services.epoch_files import prove_payout as prove
    from hokusai_assets.settings.load import load_settings

    proof = prove(load_settings(config_path=config_path, home=home), epoch_id, wallet, attester)
    if as_json:
        click.echo(json.dumps(proof))
        return
    click.echo(f"{proof['wallet']} is paid {proof['amount']} in epoch {proof['epoch']} (root {proof['root']})")
    for node in proof["proof"]:
        click.echo(node)
