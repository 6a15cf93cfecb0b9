"""contribution_sensor: every complete file in the inbox becomes a partition and a run.

Which runs a tick asks for is ``lib/intake/run_plan.py``: contributions wait (in the
cursor) while the reference is missing or stale, and one `prepare_baseline` run is asked
for; the tick here only does the I/O around that plan.
"""

import json
import time
from pathlib import Path

import dagster as dg

from hokusai_assets.defs.jobs import evaluate_contribution, prepare_baseline
from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.reference import recorded_reference_fingerprint
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.intake.run_plan import plan_contribution_runs
from hokusai_assets.services.inbox import Arrival, scan_inbox
from hokusai_assets.services.quarantine import quarantine_file
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.load import Settings

CONTRIBUTED = dg.AssetKey("contributed_dataset")


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
    except HokusaiError as error:
        return None, _quarantine(pair, quarantine, error.code, error.message)
    if not created:
        message = f"{arrival.data.name}: these bytes were already received as {stored.key}; no second run"
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
    for arrival in scan.arrivals:
        _, event = _store(arrival, store, settings.layout.quarantine)
        if event is not None:
            events.append(event)
    # Reconcile with the store rather than trusting this tick's memory: a key stored by a
    # tick that crashed before returning is picked up now, and run_key keeps it to one run.
    registered = set(context.instance.get_dynamic_partitions(contributions.name))
    new_keys = [key for key in store.keys() if key not in registered]
    context.log.info(
        f"inbox: {len(scan.arrivals)} stored, {len(scan.rejections)} quarantined, {scan.waiting} waiting; "
        f"{len(new_keys)} new partition(s)"
    )
    plan = plan_contribution_runs(
        cursor.get("held", []),
        new_keys,
        recorded_fingerprint=lambda: recorded_reference_fingerprint(context.instance),
        current_fingerprint=settings.reference_fingerprint,
    )
    run_requests = [dg.RunRequest(job_name=evaluate_contribution.name, partition_key=k, run_key=k) for k in plan.evaluate]
    if plan.prepare_reference:
        run_requests.append(dg.RunRequest(job_name=prepare_baseline.name, run_key=plan.prepare_reference))
    context.log.info(plan.describe())
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[contributions.build_add_request(new_keys)] if new_keys else [],
        asset_events=events,
        cursor=json.dumps({"scan": scan.state, "held": list(plan.held)}, sort_keys=True),
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
