"""contribution_sensor: every complete file in the inbox becomes a partition and a run.

Which runs a tick asks for is ``lib/intake/run_plan.py``: contributions wait (in the
cursor) while the reference is missing or stale, and one `prepare_baseline` run is asked
for; the tick here only does the I/O around that plan.
"""

import json
import time
from pathlib import Path

import dagster as dg

from hokusai_assets.defs.jobs import (
    REFERENCE_ASSETS,
    evaluate_contribution,
    prepare_baseline,
    refresh_contributions_overview,
)
from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.reference import recorded_reference_fingerprint
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.checks import CheckOutcome
from hokusai_assets.lib.errors import DiskFullError, HokusaiError
from hokusai_assets.lib.files import printable
from hokusai_assets.lib.intake.run_plan import plan_contribution_runs
from hokusai_assets.lib.intake.validate import SCHEMA_VALID
from hokusai_assets.services.inbox import Arrival, scan_inbox
from hokusai_assets.services.intake import SchemaScreen, schema_screen
from hokusai_assets.services.quarantine import quarantine_file
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.load import Settings

CONTRIBUTED = dg.AssetKey("contributed_dataset")
VALIDATED = dg.AssetKey("validated_contribution")
SCHEMA_CHECK = dg.AssetCheckKey(VALIDATED, SCHEMA_VALID)
SCREEN_TAG = "hokusai/screened"
# A tick must finish well inside Dagster's sensor timeout (60 s by default). Screening reads
# each file; past this budget the tick's remaining files get full runs, which judge them the
# same way (their unplanned checks may then show as "Execution failed" in the checks tab).
SCREEN_BUDGET_SECONDS = 20.0
# The tick's words name this many screened-out files; the rest are counted.
NAMED_MISFITS = 3


def _quarantine(paths: tuple[Path, ...], quarantine: Path, code: str, message: str, **extra) -> dg.AssetObservation:
    moved = [quarantine_file(p, quarantine, code, message, **extra) for p in paths if p.exists() or p.is_symlink()]
    return dg.AssetObservation(
        asset_key=CONTRIBUTED,
        partition=extra.get("partition"),
        metadata={
            "outcome": "quarantined",
            "code": code,
            "reason": message,
            "quarantined_as": ", ".join(m.path.name for m in moved),
        },
    )


def _store(arrival: Arrival, store: ContributionStore, quarantine: Path) -> tuple[str | None, dg.AssetObservation | None]:
    """Store one arrival and clear it from the inbox; a duplicate goes to quarantine, reported."""
    pair = (arrival.data, arrival.sidecar)
    try:
        stored, created = store.put_bytes(arrival.data.read_bytes(), arrival.data.name, arrival.contributor)
    except DiskFullError:
        # Not the file's fault: it stays in the inbox, nothing quarantined; intake_tick stops
        # taking arrivals and returns what the tick did so far.
        raise
    except HokusaiError as error:
        return None, _quarantine(pair, quarantine, error.code, error.message)
    if not created:
        message = f"{printable(arrival.data.name)}: these bytes were already received as {stored.key}; no second run"
        return None, _quarantine(pair, quarantine, "E_INTAKE_DUPLICATE", message, partition=stored.key)
    for path in pair:
        path.unlink()  # the store now holds the bytes, encrypted; no clear copy stays behind
    return stored.key, None


def intake_tick(context: dg.SensorEvaluationContext, settings: Settings, store: ContributionStore) -> dg.SensorResult:
    intake = settings.config.intake
    cursor = json.loads(context.cursor) if context.cursor else {}
    scan = scan_inbox(
        settings.layout.inbox,
        cursor.get("scan", {}),
        time.time(),
        max_bytes=intake.max_file_bytes,
        sidecar_wait_seconds=intake.sidecar_wait_seconds,
        allow_lowercase_wallet=intake.allow_lowercase_wallet,
        limit=intake.max_files_per_tick,
    )
    events = [_quarantine(r.paths, settings.layout.quarantine, r.code, r.message) for r in scan.rejections]
    taken, disk_full = 0, None
    for arrival in scan.arrivals:
        try:
            _, event = _store(arrival, store, settings.layout.quarantine)
        except DiskFullError as error:
            disk_full = error
            break
        taken += 1
        if event is not None:
            events.append(event)
    if disk_full is not None:
        # The store's disk is full. Failing the tick would lose the observations of the files
        # already quarantined above (moved, so never reported again) and so their alerts: the
        # tick stops taking arrivals instead and returns what it did; the arrivals not taken
        # stay in the inbox for a tick with space.
        context.log.error(
            f"{disk_full.code}: {disk_full.message}; {len(scan.arrivals) - taken} file(s) left in the inbox "
            "for the next tick"
        )
        scan.leave_for_next_look(scan.arrivals[taken:], cursor.get("scan", {}))
    # Reconcile with the store rather than trusting this tick's memory: a key stored by a
    # tick that crashed before returning is picked up now, and run_key keeps it to one run.
    registered = set(context.instance.get_dynamic_partitions(contributions.name))
    new_keys = [key for key in store.keys() if key not in registered]
    plan = plan_contribution_runs(
        cursor.get("held", []),
        new_keys,
        recorded_fingerprint=lambda: recorded_reference_fingerprint(context.instance),
        current_fingerprint=settings.reference_fingerprint,
    )
    run_requests, misfits, unscreened = [], [], 0
    screen = _TickScreen(context, settings, store)
    screening_since = time.monotonic()
    for key in plan.evaluate:
        misfit = None
        if time.monotonic() - screening_since < SCREEN_BUDGET_SECONDS:
            misfit = screen.misfit(key)
        else:
            unscreened += 1
        run_requests.append(_evaluation_request(key, misfit))
        if misfit is not None:
            misfits.append(f"{key} does not fit the task schema ({misfit.metadata.get('code')}): its run checks that alone")
    if plan.prepare_reference:
        run_requests.append(dg.RunRequest(job_name=prepare_baseline.name, run_key=plan.prepare_reference))
    # What the tick did, in words: the tick history shows it (as the skip reason when nothing runs).
    said = (
        f"inbox: {taken} taken, {len(events)} quarantined, {scan.waiting} waiting; "
        + (f"store disk full ({disk_full.code}): {len(scan.arrivals) - taken} left in the inbox; " if disk_full else "")
        + f"{len(new_keys)} new partition(s); {plan.describe()}"
        + "".join(f"; {m}" for m in misfits[:NAMED_MISFITS])
        + (f"; {len(misfits) - NAMED_MISFITS} more do not fit the task schema" if len(misfits) > NAMED_MISFITS else "")
        + (f"; {unscreened} not screened within {SCREEN_BUDGET_SECONDS:.0f} s: full runs" if unscreened else "")
    )
    context.log.info(said)
    return dg.SensorResult(
        run_requests=run_requests,
        skip_reason=None if run_requests else said,
        dynamic_partitions_requests=[contributions.build_add_request(new_keys)] if new_keys else [],
        asset_events=events,
        cursor=json.dumps({"scan": scan.state, "held": list(plan.held)}, sort_keys=True),
    )


class _TickScreen:
    """One tick's schema screen: the reference is read once, at the first file screened."""

    def __init__(self, context: dg.SensorEvaluationContext, settings: Settings, store: ContributionStore) -> None:
        self.context, self.settings, self.store = context, settings, store
        self._built: SchemaScreen | Exception | None = None
        self._tried = False

    def misfit(self, key: str) -> CheckOutcome | None:
        try:
            if not self._tried:
                self._tried = True
                try:
                    self._built = schema_screen(self.settings)
                except Exception as error:  # noqa: BLE001 - kept, so every file of the tick says so
                    self._built = error
            if isinstance(self._built, Exception):
                raise self._built
            return None if self._built is None else self._built.misfit(self.store, key)
        except Exception as error:  # noqa: BLE001 - a file the screen cannot read gets the full run, which says why
            self.context.log.warning(f"{key}: could not screen against the task schema ({type(error).__name__}); full run")
            return None


def _evaluation_request(key: str, misfit: CheckOutcome | None) -> dg.RunRequest:
    """One contribution's run. Dagster plans a run's checks when it is created, and a check
    planned but never reported in a failed run shows as failed ("Execution failed"): so a
    file that will fail its schema gets a run of its intake with that one check, and the
    checks that need fitted rows are not planned, hence not shown as failed."""
    if misfit is None:
        return dg.RunRequest(job_name=evaluate_contribution.name, partition_key=key, run_key=key)
    return dg.RunRequest(
        job_name=evaluate_contribution.name,
        partition_key=key,
        run_key=key,
        asset_selection=[CONTRIBUTED, VALIDATED],
        asset_check_keys=[SCHEMA_CHECK],
        tags={SCREEN_TAG: "schema_misfit"},
    )


def build_contribution_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name="contribution_sensor",
        jobs=[evaluate_contribution, prepare_baseline],
        minimum_interval_seconds=settings.config.intake.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Watches {settings.layout.inbox}: each complete new file becomes a `contributions` partition and one run.",
    )
    def contribution_sensor(context: dg.SensorEvaluationContext, hokusai: HokusaiResource) -> dg.SensorResult:
        return intake_tick(context, hokusai.load(), hokusai.store())

    return contribution_sensor


def _refresh_overview(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    """A refresh that starts after this evaluation finished, shared with every other finished
    evaluation waiting for one: a burst of 100 contributions asks for a handful, not 100.

    A refresh still queued has not read the store yet, so it will show this evaluation too.
    Otherwise ask for one keyed by the latest refresh: every evaluation seen before the new
    one is created asks with the same key, and Dagster launches a sensor's run key once (the
    success and the failure sensor are two sensors: together they may ask for two).
    """
    [latest] = context.instance.get_runs(dg.RunsFilter(job_name=refresh_contributions_overview.name), limit=1) or [None]
    finished = context.dagster_run.run_id
    if latest is not None and latest.status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED):
        return dg.SkipReason(f"refresh {latest.run_id} is queued and will include evaluation {finished}")
    after = latest.run_id if latest is not None else "none"
    return dg.RunRequest(run_key=f"overview-after-{after}", job_name=refresh_contributions_overview.name)


@dg.run_status_sensor(
    name="contributions_overview_sensor",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[evaluate_contribution],
    request_job=refresh_contributions_overview,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a contribution's evaluation succeeds, rebuild contributions_overview.",
)
def contributions_overview_sensor(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    return _refresh_overview(context)


@dg.run_failure_sensor(
    name="contributions_overview_after_failure_sensor",
    monitored_jobs=[evaluate_contribution],
    request_job=refresh_contributions_overview,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a contribution's evaluation fails (a rejected file), rebuild contributions_overview.",
)
def contributions_overview_after_failure_sensor(context: dg.RunFailureSensorContext) -> dg.RunRequest | dg.SkipReason:
    return _refresh_overview(context)


# Named, described and off by default (as Dagster's default one would be): the contribution sensor
# already rebuilds a stale reference before it evaluates anything, so this only saves the wait.
reference_automation_sensor = dg.AutomationConditionSensorDefinition(
    "reference_automation_sensor",
    target=dg.AssetSelection.assets(*REFERENCE_ASSETS),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Rebuilds the reference (baseline model and metrics) as soon as it is missing or its fingerprint "
        "changes, rather than when the next contribution arrives. Off by default; turn it on here."
    ),
)
