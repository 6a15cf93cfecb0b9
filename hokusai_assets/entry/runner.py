"""Headless runs: materialise the graph in-process on the real Dagster instance.

Used by the CLI (``hokusai run --dry-run``, ``hokusai evaluate``). Nothing here needs a
webserver or daemon: ``hokusai evaluate`` runs go into the same SQLite instance under
``HOKUSAI_HOME`` that ``dagster dev`` shows, so they are visible in the UI afterwards;
a dry run keeps its run history in memory (see :func:`dry_run`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.reference import reference_is_current
from hokusai_assets.defs.resources import TrackingResource
from hokusai_assets.entry.instance import open_instance
from hokusai_assets.lib.attestation.statement import DeltaOnePredicate
from hokusai_assets.lib.checks import failure_code
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.errors import DiskFullError, HokusaiError
from hokusai_assets.lib.files import mentions_disk_full
from hokusai_assets.lib.intake.contributions import Contributor, partition_key
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.services.tracking.worker import TrackingWorker
from hokusai_assets.settings.layout import HomeLayout
from hokusai_assets.settings.load import Settings, load_settings

# Our own errors travel through Dagster's error info as "[E_CODE] message".
_CODED_MESSAGE = re.compile(r"\[(E_[A-Z0-9_]+)\] (.*)", re.DOTALL)


def _run_config(verbose: bool, progress: bool = False) -> dict:
    # Headless runs print one JSON object or one error line; the full event log of every
    # run, stack traces included, stays in the instance for the UI. A long run (``progress``)
    # also shows the assets' own INFO lines on stderr (an epoch's "valued 25/256 coalitions").
    level = "DEBUG" if verbose else "INFO" if progress else "CRITICAL"
    return {"loggers": {"console": {"config": {"log_level": level}}}}


class RunFailed(HokusaiError):
    code = "E_RUN_FAILED"


@dataclass(frozen=True)
class Outcome:
    partition: str
    delta_one_score: float
    delta_one_bps: int
    accepted: bool
    attestation: str  # the signed DSSE envelope; statement.json and the rest sit beside it
    statement_digest: str | None
    reused: bool

    def as_dict(self) -> dict:
        return asdict(self)


def _run_failure(job_name: str, result: dg.ExecuteInProcessResult) -> RunFailed:
    """Why the run failed: a failed blocking check's explanation, else the first failed
    step's error, keeping our own error code when it was ours."""
    where = f"(run {result.run_id} of {job_name}"
    for event in result.all_events:
        evaluation = event.event_specific_data if event.event_type_value == "ASSET_CHECK_EVALUATION" else None
        if evaluation is not None and not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            check = evaluation.check_name
            recorded = evaluation.metadata.get("code")
            code = failure_code(check, recorded.value if recorded is not None else None)
            return RunFailed(f"{evaluation.description} {where}, check {check})", code=code)
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None and error.cls_name.startswith("Dagster"):
                error = error.cause
            coded = _CODED_MESSAGE.search(error.message)
            if coded:
                return RunFailed(f"{coded.group(2).strip()} {where}, step {event.step_key})", code=coded.group(1))
            if mentions_disk_full(error.message):  # a library's own write (SQLite, MLflow) found no room
                return RunFailed(
                    f"{error.message.strip()} {where}, step {event.step_key}); "
                    "free space there, then run the command again",
                    code=DiskFullError.code,
                )
            return RunFailed(f"{error.message.strip()} {where}, step {event.step_key})")
    return RunFailed(f"the run failed before any step {where}); open it in the Dagster UI")


def _execute(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    partition_key: str | None = None,
    verbose: bool = False,
    progress: bool = False,
) -> None:
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance, partition_key=partition_key, run_config=_run_config(verbose, progress), raise_on_error=False
    )
    if not result.success:
        raise _run_failure(job_name, result)


def ensure_reference(
    settings: Settings, defs: dg.Definitions, instance: dg.DagsterInstance, verbose: bool = False
) -> bool:
    """Materialise the shared reference assets unless they are current; return whether it ran."""
    if reference_is_current(instance, settings):
        return False
    _execute(defs, "prepare_baseline", instance, verbose=verbose)
    return True


def _outcome(settings: Settings, key: str, reused: bool) -> Outcome:
    files = settings.layout.attestation(key)
    evaluation = DeltaOnePredicate.from_statement(json.loads(files.statement.read_bytes())).evaluation
    digest = json.loads(files.receipt.read_text())["statement_digest"] if files.receipt.is_file() else None
    return Outcome(
        partition=key,
        delta_one_score=evaluation["delta_one_score"],
        delta_one_bps=evaluation["delta_one_bps"],
        accepted=evaluation["accepted"],
        attestation=str(files.envelope),
        statement_digest=digest,
        reused=reused,
    )


@contextmanager
def warm_tracking(
    home: Path, tracking_uri: str, worker: TrackingWorker | None = None, framework: str = "sklearn"
) -> Iterator[TrackingResource]:
    """A tracking worker for one headless run (``worker``, or one started now), stopped afterwards.

    It imports MLflow and opens the store on the second core while the graph runs on the
    first, so the ``mlflow_run`` asset only pays for the logging itself.
    """
    with worker or TrackingWorker.start(tracking_uri, framework) as running:
        yield TrackingResource(home=str(home), tracking_uri=tracking_uri, worker_address=running.address)


def evaluate_file(
    settings: Settings,
    path: Path,
    contributor: Contributor,
    instance: dg.DagsterInstance | None = None,
    verbose: bool = False,
    tracking: TrackingResource | None = None,
    refresh_overview: bool = True,
) -> Outcome:
    """Evaluate one contributed file end to end and return where its attestation is.

    The file goes through the whole intake first, so a rejected file leaves nothing under
    HOKUSAI_HOME but its quarantine copy and reason. The same bytes evaluated again reuse
    their partition.
    Runs go to the persistent instance under HOKUSAI_HOME unless ``instance`` is given, and
    to MLflow at ``tracking`` (default: MLFLOW_TRACKING_URI or the store under the home,
    through a warm worker). Afterwards, rejected or not, ``contributions_overview`` is rebuilt
    (``refresh_overview``; the dry run, whose instance is thrown away, skips it).
    """
    from hokusai_assets.services.intake import require_within_size, screen_for_evaluation

    require_within_size(settings, path)
    data = path.read_bytes()  # the bytes screened are the bytes stored
    # Attested before: the store only checks that it is the same wallet (an accepted file's
    # rows are in the leaf index now, so its intake would call them all duplicates).
    attested = settings.layout.attestation(partition_key(bytes_digest(data))).statement.is_file()
    if not attested:
        screen_for_evaluation(settings, data, path.name)  # a rejected file: quarantine only, then refused
    settings.home.mkdir(parents=True, exist_ok=True)
    stored, created = ContributionStore.open(settings.layout).put_bytes(data, path.name, contributor)
    if not created and settings.layout.attestation(stored.key).statement.is_file():
        return _outcome(settings, stored.key, reused=True)
    if tracking is None and settings.config.tracking.enabled:
        uri = settings.layout.tracking_uri(os.environ)
        with warm_tracking(settings.home, uri, framework=settings.config.training.framework) as warm:
            return _run_contribution(settings, stored.key, instance, verbose, warm, refresh_overview)
    return _run_contribution(settings, stored.key, instance, verbose, tracking, refresh_overview)


def _run_contribution(
    settings: Settings,
    key: str,
    instance: dg.DagsterInstance | None,
    verbose: bool,
    tracking: TrackingResource | None,
    refresh_overview: bool,
) -> Outcome:
    """The evaluate_contribution run of stored contribution ``key`` (its intake passed)."""
    from hokusai_assets.defs.definitions import build_definitions

    instance = instance or open_instance(settings.layout)
    defs = build_definitions(settings, tracking=tracking)
    instance.add_dynamic_partitions(contributions.name, [key])
    ensure_reference(settings, defs, instance, verbose=verbose)
    try:
        _execute(defs, "evaluate_contribution", instance, partition_key=key, verbose=verbose)
    except RunFailed:
        if refresh_overview:  # a rejected file is listed too, but its own error is the one to report
            with contextlib.suppress(RunFailed):
                _execute(defs, "refresh_contributions_overview", instance, verbose=verbose)
        raise
    if refresh_overview:
        _execute(defs, "refresh_contributions_overview", instance, verbose=verbose)
    return _outcome(settings, key, reused=False)


def dry_run(
    home: Path,
    verbose: bool = False,
    worker: TrackingWorker | None = None,
    framework: str = "sklearn",
    model: str | None = None,
) -> Outcome:
    """The whole graph on deterministic mock data, in ``<home>/dry-run``.

    Every asset runs and writes its files for real, but the run history goes to an
    in-memory Dagster instance: mock partitions never mix with real ones in the UI, and
    the dry run skips the SQLite set-up and per-event commits (about 1.5 s of its budget).
    MLflow runs go to the dry run's own store (``<home>/dry-run/mlflow``), never to
    ``MLFLOW_TRACKING_URI``: mock models must not reach a real registry. ``worker`` is a
    tracking worker the caller started earlier, for that store (see ``entry/cli.py``).
    """
    from hokusai_assets.lib.samples.mock_task import write_mock_task

    dry_home = HomeLayout(home).dry_run(framework, model)
    # First, so that MLflow's start-up overlaps everything below.
    with warm_tracking(dry_home.home, dry_home.tracking_uri({}), worker, framework) as tracking:
        task = write_mock_task(dry_home.mock_task_dir, framework=framework, model=model)
        settings = load_settings(config_path=task.config_path, home=dry_home.home, environ={})
        contributor = Contributor(wallet=task.wallet, contributor_id="dry-run")
        with dg.DagsterInstance.ephemeral() as instance:
            return evaluate_file(
                settings,
                task.contribution_path,
                contributor,
                instance=instance,
                verbose=verbose,
                tracking=tracking,
                refresh_overview=False,
            )


@dataclass(frozen=True)
class EpochOutcome:
    epoch: str
    payout_root: str | None  # None when nobody is paid
    attestation: str  # the epoch's signed DSSE envelope; the payout tree and report sit beside it
    pool: str
    total: str
    amounts: dict[str, str]  # wallet -> amount in the token's smallest unit (decimal strings)
    reused: bool  # the epoch was attested already: its signed result, not a new run

    def as_dict(self) -> dict:
        return asdict(self)


def _epoch_outcome(settings: Settings, epoch: str, reused: bool) -> EpochOutcome:
    from hokusai_assets.lib.rewards.statement import read_epoch_statement
    from hokusai_assets.services.epoch_files import published_statement

    files = settings.layout.epoch_attestation(epoch)
    payouts = read_epoch_statement(published_statement(files))["payouts"]
    return EpochOutcome(
        epoch=epoch,
        payout_root=payouts["root"],
        attestation=str(files.envelope),
        pool=payouts["pool"],
        total=payouts["total"],
        amounts=payouts["amounts"],
        reused=reused,
    )


def close_epoch(
    settings: Settings, day: date | None = None, instance: dg.DagsterInstance | None = None, verbose: bool = False
) -> EpochOutcome:
    """Close the next reward epoch (or ``day``'s, for daily epochs) and materialise its chain.

    A day that was attested already gives its signed result again (``reused``): a published
    payout root is never recomputed behind its claimants' backs.
    """
    from hokusai_assets.defs.definitions import build_definitions
    from hokusai_assets.defs.partitions import reward_epochs
    from hokusai_assets.services.epochs import close_window, closing, rewards_config

    rewards_config(settings)  # fails closed before anything is written
    settings.home.mkdir(parents=True, exist_ok=True)
    with closing(settings):
        window = close_window(settings, day=day)
        if settings.layout.epoch_attestation(window.epoch).exists():
            return _epoch_outcome(settings, window.epoch, reused=True)
        instance = instance or open_instance(settings.layout)
        defs = build_definitions(settings)
        instance.add_dynamic_partitions(reward_epochs.name, [window.epoch])
        ensure_reference(settings, defs, instance, verbose=verbose)
        _execute(defs, "close_reward_epoch", instance, partition_key=window.epoch, verbose=verbose, progress=True)
    return _epoch_outcome(settings, window.epoch, reused=False)
