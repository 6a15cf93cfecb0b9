"""ab_experiment_sensor: every experiment in the store becomes an ``ab_experiments`` partition, and
every running one is refreshed (reviewed, its ``ab_experiment`` partition materialised) each tick.

The cursor holds the tick number (in the run keys, so each tick's refresh is a run of its own
and a tick evaluated twice asks for nothing twice) and the experiments that were running at
the last tick: one that has stopped since (by hand, or by its own rollback or promotion) gets
one final run, so its partition shows the final numbers, and nothing after that. An
experiment first seen already stopped gets that one run too. A running experiment whose
previous refresh has not finished is skipped until it has (or is ten minutes old, taken for
dead), so slow runs never pile up.

The store is read through the same ``open_store`` the server and the CLI use; when it cannot be
read the tick says why and skips, keeping its cursor.
"""

import json
from datetime import datetime, timedelta, timezone

import dagster as dg

from hokusai_assets.defs.assets.ab_experiments import SAFE_ID, SENSOR_NAME
from hokusai_assets.defs.jobs import refresh_ab_experiment
from hokusai_assets.defs.partitions import PARTITION_TAG, ab_experiments
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.services.experiments.lifecycle import open_store
from hokusai_assets.services.experiments.store import StoredExperiment
from hokusai_assets.settings.load import Settings

# The dashboard's cadence, not the decisions': every server reviews the running experiment every
# serving.experiment_review_seconds and acts on it; a refresh every five minutes keeps the
# event log small (each one carries the plot).
INTERVAL_SECONDS = 300
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
# A refresh takes seconds; one unfinished after this long is taken for dead (a worker that
# crashed leaves its run STARTED) and no longer holds the experiment's refreshes back.
STALE_AFTER = timedelta(minutes=10)


def _refreshing(instance: dg.DagsterInstance) -> set[str]:
    """Experiments with a refresh run queued or under way, asked for within STALE_AFTER."""
    since = datetime.now(timezone.utc) - STALE_AFTER
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=refresh_ab_experiment.name, statuses=UNFINISHED, created_after=since)
    )
    return {run.tags[PARTITION_TAG] for run in runs if PARTITION_TAG in run.tags}


def _request(experiment_id: str, run_key: str) -> dg.RunRequest:
    return dg.RunRequest(job_name=refresh_ab_experiment.name, partition_key=experiment_id, run_key=run_key)


def ab_tick(context: dg.SensorEvaluationContext, settings: Settings) -> dg.SensorResult | dg.SkipReason:
    cursor = json.loads(context.cursor) if context.cursor else {}
    tick = int(cursor.get("tick", 0)) + 1
    was_running = set(cursor.get("running", []))
    try:
        experiments: list[StoredExperiment] = open_store(settings).list()
    except Exception as error:  # noqa: BLE001 - a store down for a moment must not stop the sensor
        said = (
            f"the experiment store cannot be read ({type(error).__name__}: {str(error)[:300]}); trying again next tick"
        )
        context.log.warning(said)
        return dg.SkipReason(said)
    usable = [e for e in experiments if SAFE_ID.fullmatch(e.id)]
    for unusable in (e for e in experiments if not SAFE_ID.fullmatch(e.id)):
        context.log.warning(f"experiment id {unusable.id[:70]!r} cannot be a partition key; not shown")
    registered = set(context.instance.get_dynamic_partitions(ab_experiments.name))
    new_keys = [e.id for e in usable if e.id not in registered]
    busy = _refreshing(context.instance)
    run_requests, waiting, final = [], [], []
    for experiment in usable:
        if experiment.running:
            if experiment.id in busy:
                waiting.append(experiment.id)
            else:
                run_requests.append(_request(experiment.id, f"{experiment.id}:{tick}"))
        elif experiment.id in was_running or experiment.id in new_keys:
            # Stopped since its last refresh, or never refreshed: one run shows its final numbers.
            run_requests.append(_request(experiment.id, f"{experiment.id}:final"))
            final.append(experiment.id)
    running = sorted(e.id for e in usable if e.running)
    said = (
        f"{len(experiments)} experiment(s), {len(running)} running; {len(new_keys)} new partition(s); "
        f"{len(run_requests)} run(s) asked for"
        + (f"; final run of {', '.join(final)}" if final else "")
        + (f"; still refreshing: {', '.join(waiting)}" if waiting else "")
    )
    context.log.info(said)
    return dg.SensorResult(
        run_requests=run_requests,
        skip_reason=None if run_requests else said,
        dynamic_partitions_requests=[ab_experiments.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps({"tick": tick, "running": running}, sort_keys=True),
    )


@dg.sensor(
    name=SENSOR_NAME,
    jobs=[refresh_ab_experiment],
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Each A/B experiment becomes an `ab_experiments` partition; a running one is reviewed every "
        f"{INTERVAL_SECONDS} s (ab_experiment), and once more after it stops."
    ),
)
def ab_experiment_sensor(
    context: dg.SensorEvaluationContext, hokusai: HokusaiResource
) -> dg.SensorResult | dg.SkipReason:
    try:
        settings = hokusai.load()
    except Exception as error:  # noqa: BLE001 - a broken config is reported by the code location itself
        said = f"settings cannot be loaded ({type(error).__name__}: {str(error)[:300]})"
        context.log.warning(said)
        return dg.SkipReason(said)
    return ab_tick(context, settings)
