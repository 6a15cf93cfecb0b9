"""lost_retry_sensor: a contribution whose automatic retry Dagster could not launch is run again.

The decision is ``lib/intake/recovery.py``; this reads the instance for it. It looks at
each failed evaluation whose ``dagster/will_retry`` tag is false once (the cursor is the
newest run update seen, and the runs updated in the second before it, which the next tick
reads again), so a tick reads a handful of runs, not the whole history.
"""

import datetime as dt
import json

import dagster as dg

from hokusai_assets.defs.jobs import evaluate_contribution
from hokusai_assets.defs.partitions import PARTITION_TAG
from hokusai_assets.lib.alerts.runs import WILL_RETRY_TAG
from hokusai_assets.lib.intake.recovery import RETRY_LOST_MESSAGE, FailedRun, Recovery, recovery_for

ATTESTATION = dg.AssetKey("attestation")
RUNS_PER_TICK = 200
# Update times of runs updated together may tie or land out of order by a hair: the next
# tick reads this much before the cursor again and skips the runs already read there.
CURSOR_OVERLAP = dt.timedelta(seconds=1)
ENDED_WITHOUT_SUCCESS = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def _retry_lost(instance: dg.DagsterInstance, run_id: str) -> bool:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    return any(event.message == RETRY_LOST_MESSAGE for event in events)


def _attested(instance: dg.DagsterInstance, partition: str) -> bool:
    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ATTESTATION, asset_partitions=[partition]), limit=1
    )
    return bool(found.records)


def _other_run_live_or_done(instance: dg.DagsterInstance, partition: str, run_id: str) -> bool:
    runs = instance.get_runs(dg.RunsFilter(job_name=evaluate_contribution.name, tags={PARTITION_TAG: partition}))
    return any(run.run_id != run_id and run.status not in ENDED_WITHOUT_SUCCESS for run in runs)


def taken_over(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether this sensor answers for the failed ``run``: an evaluation whose retry Dagster
    could not launch, under the recovery limit (so no alert should call its failure final)."""
    partition = run.tags.get(PARTITION_TAG)
    if run.job_name != evaluate_contribution.name or partition is None or not _retry_lost(instance, run.run_id):
        return False
    failed = FailedRun(run.run_id, partition, run.tags, retry_lost=True)
    return isinstance(recovery_for(failed, attested=False, other_run_live_or_done=False), Recovery)


def recovery_tick(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    instance = context.instance
    cursor = json.loads(context.cursor) if context.cursor else {}
    after = dt.datetime.fromisoformat(cursor["after"]) - CURSOR_OVERLAP if cursor else None
    already_read = set(cursor.get("recent", []))
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=evaluate_contribution.name,
            statuses=[dg.DagsterRunStatus.FAILURE],
            tags={WILL_RETRY_TAG: "false"},
            updated_after=after,
        ),
        order_by="update_timestamp",
        ascending=True,
        limit=RUNS_PER_TICK,
    )
    fresh = [record for record in records if record.dagster_run.run_id not in already_read]
    if not fresh:
        return dg.SkipReason("no failed evaluation whose retry was lost")
    requests, said = [], []
    for record in fresh:
        run = record.dagster_run
        partition = run.tags.get(PARTITION_TAG)
        # Most of these failed for good (a bad file): only a lost retry is worth more lookups.
        if partition is None or not _retry_lost(instance, run.run_id):
            continue
        decision = recovery_for(
            FailedRun(run.run_id, partition, run.tags, retry_lost=True),
            attested=_attested(instance, partition),
            other_run_live_or_done=_other_run_live_or_done(instance, partition, run.run_id),
        )
        if isinstance(decision, Recovery):
            requests.append(
                dg.RunRequest(
                    job_name=evaluate_contribution.name,
                    partition_key=decision.partition,
                    run_key=decision.run_key,
                    tags=decision.tags,
                )
            )
            said.append(f"{partition}: Dagster could not launch the retry of run {run.run_id}; running it again")
        elif decision is not None:
            said.append(decision)
    for line in said:
        context.log.warning(line)
    newest = max(record.update_timestamp for record in records)
    recent = [r.dagster_run.run_id for r in records if r.update_timestamp > newest - CURSOR_OVERLAP]
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps({"after": newest.isoformat(), "recent": recent}),
        skip_reason=None if requests else "; ".join(said) or "no failed evaluation whose retry was lost",
    )


@dg.sensor(
    name="lost_retry_sensor",
    jobs=[evaluate_contribution],
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Runs a contribution's evaluation again when its run died (a lost worker) and Dagster's automatic "
        "retry could not be launched (the code server was down): otherwise it would never be attested."
    ),
)
def lost_retry_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    return recovery_tick(context)
