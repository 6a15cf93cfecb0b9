"""The ``hokusai`` command."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import click

from hokusai_assets.entry.ab_commands import ab
from hokusai_assets.entry.epoch_commands import epoch, prove_payout, verify_epoch
from hokusai_assets.entry.options import (
    ACTOR,
    CONFIG,
    HOME,
    HOME_META,
    VERBOSE,
    actor_or_user,
    print_verification,
    remember_home,
)
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.files import printable
from hokusai_assets.services.tracking.worker import ADDRESS_ENV as TRACKING_WORKER_ENV

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


def _fail(error: HokusaiError) -> None:
    # printable: a message may quote a file name or a value someone else chose.
    click.echo(f"error[{error.code}]: {printable(error.message)}", err=True)
    sys.exit(EXIT_ERROR)


def _fail_unexpectedly(ctx: click.Context, error: Exception) -> None:
    """A bug or an unforeseen condition: one line still, and the traceback in a log file.

    A full disk is neither: wherever it surfaced (a library's own write, SQLite), it is
    E_DISK_FULL, and no log is attempted on the disk that has no room for it.
    """
    from hokusai_assets.lib.files import disk_full_error, full_disk_in
    from hokusai_assets.services.error_log import error_summary, write_error_log
    from hokusai_assets.settings.layout import HomeLayout

    home = ctx.meta.get(HOME_META) or os.environ.get("HOKUSAI_HOME")
    full = full_disk_in(error)
    if isinstance(full, HokusaiError):
        _fail(full)
    if full is not None:
        where = getattr(full, "filename", None) or home or Path.cwd()
        _fail(disk_full_error(Path(where).expanduser().absolute()))
    logs_dir = HomeLayout(Path(home).expanduser().absolute()).logs_dir if home else None
    log = write_error_log(logs_dir, error, sys.argv)
    where = f"details in {printable(log)}" if log is not None else "no log could be written (is the disk full?)"
    click.echo(f"error[E_INTERNAL]: unexpected {error_summary(error)}; {where}", err=True)
    sys.exit(EXIT_ERROR)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        # Every error is one line on stderr and a non-zero exit, never a traceback. Subgroups
        # (ab, epoch, models) run inside this call, so this one guard covers every command.
        try:
            return super().invoke(ctx)
        except HokusaiError as error:
            _fail(error)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors, --help, --version
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as error:  # noqa: BLE001 - whatever was not foreseen, as one line and a log
            _fail_unexpectedly(ctx, error)


@click.group(cls=_Group)
@click.version_option(package_name="hokusai_assets")
def main() -> None:
    """Measure how much a contributed dataset improves a model, and attest it."""


# Reward epochs (entry/epoch_commands.py): close, verify, prove.
# A/B experiments (entry/ab_commands.py): start, status, stop, list.
for _command in (epoch, verify_epoch, prove_payout, ab):
    main.add_command(_command)


def CONTRIBUTOR(command):  # noqa: N802 - used as a decorator beside the option constants
    """The contributor options shared by `evaluate` and `submit`."""
    for option in reversed(
        (
            click.option("--wallet", required=True, help="The contributor's EIP-55 Ethereum address."),
            click.option("--contributor-id", default=None, help="Optional contributor identifier."),
            click.option("--license", "license_", default=None, help="Optional licence of the contributed data."),
        )
    ):
        command = option(command)
    return command


def _input_file(file: Path) -> Path:
    """FILE as given on the command line, refused unless it is a regular file, then resolved.

    Checked before resolving: resolving a dangling link names its missing target instead, and
    a link loop fails; and a FIFO or a device must never be opened (a read would block or
    never end).
    """
    from hokusai_assets.lib.files import require_regular_file

    path = file.expanduser()
    require_regular_file(path)
    return path.resolve()


def _contributor(settings, wallet: str, contributor_id: str | None, license_: str | None):
    from hokusai_assets.lib.intake.contributions import Contributor
    from hokusai_assets.lib.wallet import normalise_wallet

    return Contributor(
        wallet=normalise_wallet(wallet, allow_lowercase=settings.config.intake.allow_lowercase_wallet),
        contributor_id=contributor_id,
        license=license_,
    )


@main.command()
@click.option("--dry-run", is_flag=True, help="Run the whole graph on deterministic mock data.")
@click.option(
    "--framework",
    type=click.Choice(["sklearn", "torch"]),
    default="sklearn",
    show_default=True,
    help="The dry run's trainer.",
)
@click.option(
    "--model",
    default=None,
    metavar="NAME",
    help="The dry run's model of that framework, e.g. random_forest [default: logistic_regression, or mlp].",
)
@HOME
@VERBOSE
def run(dry_run: bool, framework: str, model: str | None, home: Path | None, verbose: bool) -> None:
    """Materialise the whole graph headless and print the result as JSON."""
    from hokusai_assets.services.tracking.worker import TrackingWorker
    from hokusai_assets.settings.layout import DEFAULT_HOME, HomeLayout

    if not dry_run:
        raise click.UsageError("hokusai run needs --dry-run; to evaluate a real file use: hokusai evaluate FILE --wallet 0x...")
    if model is not None and not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", model):
        # It names the dry run's folder too: a model name, not a path.
        raise click.BadParameter(f"{model[:40]!r} is not a model name (e.g. random_forest)", param_hint="--model")
    home = (home or Path(os.environ.get("HOKUSAI_HOME", DEFAULT_HOME))).expanduser().resolve()
    # Started before Dagster is even imported: MLflow's start-up runs on the other core.
    worker = TrackingWorker.start(HomeLayout(home).dry_run(framework, model).tracking_uri({}), framework)
    from hokusai_assets.entry.runner import dry_run as run_dry

    outcome = run_dry(home, verbose=verbose, worker=worker, framework=framework, model=model)
    click.echo(json.dumps(outcome.as_dict()))


@main.command()
@click.option("--host", default=None, help="Address to bind (default: serving.host, 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port (default: serving.port, 8080).")
@CONFIG
@HOME
def serve(host: str | None, port: int | None, config_path: Path | None, home: Path | None) -> None:
    """Serve the task's attested models over HTTP: predictions by alias or version, the registry, /metrics."""
    from hokusai_assets.entry.serve import require_listenable
    from hokusai_assets.entry.serve import serve as run_server
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config_path, home=home)
    serving = settings.config.serving
    host, port = host or serving.host, port or serving.port
    require_listenable(host, port)  # a busy port is one error line, not uvicorn's start-up log
    click.echo(f"hokusai serve: http://{host}:{port}/docs  (model {settings.config.registered_model_name})", err=True)
    run_server(settings, host, port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the UI binds to; keep it on loopback unless a proxy with auth fronts it.")
@click.option("--port", default=3000, show_default=True, type=int)
@CONFIG
@HOME
def dev(host: str, port: int, config_path: Path | None, home: Path | None) -> None:
    """Start the Dagster UI and daemon (`dagster dev`) on this home; contribution_sensor runs by default."""
    from hokusai_assets.entry.instance import REPO_WORKSPACE_YAML, install_instance_file
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config_path, home=home)  # a broken config fails here, clearly
    layout = settings.layout
    install_instance_file(layout)
    environ = {
        **os.environ,
        "HOKUSAI_HOME": str(settings.home),
        "HOKUSAI_CONFIG_PATH": str(settings.config_path),
        "DAGSTER_HOME": str(layout.dagster_home),
    }
    if settings.config.tracking.enabled and not os.environ.get(TRACKING_WORKER_ENV):
        from hokusai_assets.services.tracking.worker import TrackingWorker

        # One warm MLflow for every launched run. It watches this pid, which `dagster dev`
        # keeps (execve), so it stops when the UI and daemon do.
        worker = TrackingWorker.start(layout.tracking_uri(os.environ), settings.config.training.framework)
        environ[TRACKING_WORKER_ENV] = worker.address
    dagster = Path(sys.executable).with_name("dagster")
    click.echo(f"Dagster UI: http://{host}:{port}  (DAGSTER_HOME={layout.dagster_home}, inbox {layout.inbox})", err=True)
    command = [str(dagster), "dev", "-w", str(REPO_WORKSPACE_YAML), "-h", host, "-p", str(port)]
    os.execve(command[0], command, environ)  # dagster dev owns the terminal and its Ctrl-C from here


@main.command("tracking-worker")
@click.option(
    "--socket",
    "socket_path",
    type=click.Path(path_type=Path),
    default=None,
    help=f"The Unix socket to listen on [default: ${TRACKING_WORKER_ENV}, else one under /tmp for this home].",
)
@CONFIG
@HOME
def tracking_worker(socket_path: Path | None, config_path: Path | None, home: Path | None) -> None:
    """Log launched runs to MLflow from one warm process (what `hokusai dev` starts by itself).

    For a platform whose webserver and daemon are started apart: run this beside them and
    give them (the daemon's environment, which its runs inherit) the socket it prints.
    """
    import hashlib

    from hokusai_assets.services.tracking.worker import serve_forever
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config_path, home=home)
    if socket_path is None and os.environ.get(TRACKING_WORKER_ENV):
        socket_path = Path(os.environ[TRACKING_WORKER_ENV])
    if socket_path is None:
        # Unix socket paths are short (108 bytes): a private folder under /tmp named after the home.
        digest = hashlib.sha256(str(settings.home).encode()).hexdigest()[:12]
        socket_path = Path("/tmp") / f"hokusai-tracking-{os.getuid()}-{digest}" / "tracking.sock"
    if len(os.fsencode(socket_path)) > 100:
        raise click.BadParameter(f"{printable(socket_path)} is too long for a Unix socket; choose a shorter path", param_hint="--socket")
    uri = settings.layout.tracking_uri(os.environ)
    click.echo(f"tracking worker for {uri}: export {TRACKING_WORKER_ENV}={socket_path}", err=True)
    serve_forever(str(socket_path), uri, settings.config.training.framework)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@CONTRIBUTOR
@CONFIG
@HOME
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
    from hokusai_assets.entry.runner import evaluate_file
    from hokusai_assets.settings.load import load_settings

    source = _input_file(file)
    settings = load_settings(config_path=config_path, home=home)
    contributor = _contributor(settings, wallet, contributor_id, license_)
    outcome = evaluate_file(settings, source, contributor, verbose=verbose)
    click.echo(json.dumps(outcome.as_dict()))


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@CONTRIBUTOR
@CONFIG
@HOME
def submit(
    file: Path, wallet: str, contributor_id: str | None, license_: str | None, config_path: Path | None, home: Path | None
) -> None:
    """Put FILE and its contributor sidecar into the inbox, where contribution_sensor picks it up."""
    from hokusai_assets.services.intake import submit_file
    from hokusai_assets.settings.load import load_settings

    source = _input_file(file)
    settings = load_settings(config_path=config_path, home=home)
    contributor = _contributor(settings, wallet, contributor_id, license_)
    click.echo(json.dumps(submit_file(settings, source, contributor)))


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@CONFIG
@HOME
def validate(file: Path, as_json: bool, config_path: Path | None, home: Path | None) -> None:
    """Run the full intake on FILE without Dagster. Exit 0 if it would be accepted, 2 if not."""
    from hokusai_assets.services.intake import validate_file
    from hokusai_assets.settings.load import load_settings

    source = _input_file(file)
    settings = load_settings(config_path=config_path, home=home)
    result = validate_file(settings, source)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        for check in result.checks.values():
            mark = "PASS" if check.passed else ("FAIL" if check.blocking else "WARN")
            click.echo(f"{mark}  {check.name}: {printable(check.description)}")
        verdict = "accepted" if result.accepted else "rejected"
        rows = result.report.get("rows_validated", 0)
        click.echo(f"{printable(file.name)}: {verdict} ({rows} rows would be used)")
    if not result.accepted:
        failure = result.first_failure
        click.echo(f"error[{failure.code}]: {printable(failure.description)}", err=True)
        sys.exit(EXIT_ERROR)


@main.command()
@HOME
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="hokusai.yaml (for the EIP-712 domain).")
def keys(home: Path | None, config_path: Path | None) -> None:
    """Print the attester's public keys and address (creating the keys on first use)."""
    from hokusai_assets.services.keys import attester_keys
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config_path, home=home)
    attester = attester_keys(settings.layout, os.environ)
    click.echo(json.dumps(attester.public_info(settings.config.attestation.eip712.domain()), indent=2))


@main.command()
@click.argument("attestation", type=click.Path(path_type=Path))
@click.option("--data", "data_file", type=click.Path(path_type=Path), help="The contributed file, or a table of its committed rows.")
@click.option("--model", "model_file", type=click.Path(path_type=Path), help="The improved model file (.safetensors).")
@click.option("--proof", "proof_file", type=click.Path(path_type=Path), help="A row proof from `hokusai prove-row`.")
@click.option("--attester", type=click.Path(path_type=Path), help="The attester's public keys you trust (default: attester.json beside the envelope).")
@click.option("--rerun", is_flag=True, help="Retrain and re-score from the inputs stored under HOKUSAI_HOME.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="hokusai.yaml (for --rerun).")
@click.option("--home", type=click.Path(path_type=Path), callback=remember_home, help="HOKUSAI_HOME (for --rerun).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(
    attestation: Path,
    data_file: Path | None,
    model_file: Path | None,
    proof_file: Path | None,
    attester: Path | None,
    rerun: bool,
    config_path: Path | None,
    home: Path | None,
    as_json: bool,
) -> None:
    """Check an attestation without trusting its producer. Exit 0 if valid, 1 naming the first failed check."""
    from hokusai_assets.lib.attestation.verify.base import Check
    from hokusai_assets.services.attestations import attestation_files, check_row_proof, load_trusted, verify_files

    files = attestation_files(attestation.expanduser().resolve())
    report = verify_files(files, trusted=load_trusted(files, attester), data_file=data_file, model_file=model_file)
    if proof_file is not None:
        report.checks.append(check_row_proof(report, proof_file))
    if rerun:
        if not report.ok:
            report.checks.append(Check("rerun", False, "skipped: the attestation itself is invalid"))
        else:
            from hokusai_assets.services.reruns import rerun_checks
            from hokusai_assets.settings.load import load_settings

            report.checks.extend(rerun_checks(report.statement, load_settings(config_path=config_path, home=home)))
    print_verification(report, as_json)


@main.command("prove-row")
@click.argument("attestation", type=click.Path(path_type=Path))
@click.argument("row_json")
@CONFIG
@HOME
def prove_row(attestation: Path, row_json: str, config_path: Path | None, home: Path | None) -> None:
    """Print the Merkle inclusion proof of one row (a JSON object, or @file) of an attested contribution."""
    from hokusai_assets.services.attestations import prove_committed_row, row_argument
    from hokusai_assets.settings.load import load_settings

    text, source = row_argument(row_json)
    settings = load_settings(config_path=config_path, home=home)
    proof = prove_committed_row(settings, attestation.expanduser().resolve(), text, source)
    click.echo(json.dumps(proof, indent=2))


@main.group()
def models() -> None:
    """The model registry: list versions, promote a challenger to champion, roll back."""


REASON = click.option("--reason", required=True, help="Why, for the audit trail.")


@models.command("list")
@CONFIG
@HOME
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
def models_list(config_path: Path | None, home: Path | None, as_json: bool) -> None:
    """Every registered version of the task's model, newest first, with aliases and evidence."""
    from hokusai_assets.services.model_registry import list_models
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config_path, home=home)
    rows = list_models(settings)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no versions of {settings.config.registered_model_name} yet; evaluate a contribution first")
        return
    click.echo(f"{'version':>7}  {'aliases':<28} {'accepted':<8} {'bps':>6}  partition")
    for row in rows:
        accepted = {True: "yes", False: "no", None: "?"}[row["accepted"]]
        bps = "" if row["delta_one_bps"] is None else str(row["delta_one_bps"])
        aliases = ",".join(row["aliases"]) or "-"
        click.echo(f"{row['version']:>7}  {aliases:<28} {accepted:<8} {bps:>6}  {row['partition'] or '-'}")


@models.command("promote")
@click.argument("version")
@ACTOR
@REASON
@click.option("--approve", is_flag=True, help="Record a human approval (required when tracking.require_approval is set).")
@click.option(
    "--alias",
    default="champion",
    show_default=True,
    help="champion, or an environment alias (staging, production, ...) to point at VERSION through the same gates.",
)
@CONFIG
@HOME
def models_promote(
    version: str, actor: str | None, reason: str, approve: bool, alias: str, config_path: Path | None, home: Path | None
) -> None:
    """Make VERSION the champion (or ALIAS): only if its attestation verifies and its delta was accepted."""
    from hokusai_assets.services.model_registry import promote_version
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config_path, home=home)
    audit = promote_version(settings, version, actor=actor_or_user(actor), reason=reason, approved=approve, alias=alias)
    click.echo(json.dumps(audit))


@models.command("rollback")
@ACTOR
@REASON
@CONFIG
@HOME
def models_rollback(actor: str | None, reason: str, config_path: Path | None, home: Path | None) -> None:
    """Make the previous champion the champion again."""
    from hokusai_assets.services.model_registry import rollback_champion
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config_path, home=home)
    click.echo(json.dumps(rollback_champion(settings, actor=actor_or_user(actor), reason=reason)))


if __name__ == "__main__":
    main()
