"""Alert sensors: Dagster's own records of what went wrong, sent where hokusai.yaml's
``alerts:`` says (services/alerts), repeats suppressed and summarised.

- ``alert_run_failure_sensor`` (a run failure sensor, every job of this code location):
  a run that failed and that no automatic retry will follow (lib/alerts/runs.py); a failure
  dagster.yaml's run_retries will run again is not alerted, its last retry's failure is.
- ``alert_events_sensor`` (every ``alerts.sensor_interval_seconds``): the instance's records
  since its cursor: failed evaluations of blocking checks and of the drift and A/B guardrail
  checks, ``quarantined`` observations of contributed_dataset, and ab_experiment
  materialisations of an experiment that rolled itself back. Each tick also sends the
  summaries of suppression windows that have ended.

Both are on by default when hokusai.yaml has an ``alerts:`` section (configuring alerts is
asking for them) and off without one, where a tick only moves the cursor. The first tick
starts from the present: history is not alerted. A delivery that fails is retried, then
logged in the tick's log and recorded under HOKUSAI_HOME; it never fails the sensor or a run.
"""

import json
import time
from collections.abc import Iterable, Mapping

import dagster as dg

# Not re-exported by dagster 1.13, but the status filter of the storage's public check history takes it.
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from hokusai_assets.defs.assets.ab_experiments import ASSET as AB_EXPERIMENT
from hokusai_assets.defs.assets.ab_experiments import GUARDRAILS_CHECK
from hokusai_assets.defs.partitions import PARTITION_TAG
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.defs.run_recovery import taken_over
from hokusai_assets.defs.sensors import CONTRIBUTED
from hokusai_assets.lib.alerts.alert import Alert
from hokusai_assets.lib.alerts.runs import RETRY_NUMBER_TAG, RunRetrySettings, retry_number, retry_will_follow
from hokusai_assets.lib.alerts.sources import (
    QUARANTINED_OUTCOME,
    code_in_message,
    failed_check_alert,
    failed_check_kind,
    is_automatic_rollback,
    quarantine_alert,
    rollback_alert,
    run_failure_alert,
)
from hokusai_assets.lib.monitoring.drift_check import DRIFT_CHECK
from hokusai_assets.services.alerts.dispatch import dispatch
from hokusai_assets.settings.load import Settings

EVENTS_SENSOR = "alert_events_sensor"
RUN_FAILURE_SENSOR = "alert_run_failure_sensor"
ROLLBACK_ASSET = dg.AssetKey(AB_EXPERIMENT)
# Records read per source per tick (the rest wait for the next tick), and failed executions
# remembered per check: more than are read, so one seen is never taken for new.
RECORDS_PER_TICK = 200
FAILED_CHECKS_READ = 50
FAILED_CHECKS_REMEMBERED = 100
PARENT_RUN_ID_TAG = "dagster/parent_run_id"
NOT_CONFIGURED = "no alerts: section in hokusai.yaml; nothing is sent (README, \"Alerts\")"


def watched_checks(check_specs: Iterable[dg.AssetCheckSpec]) -> dict[str, bool]:
    """The checks whose failures may alert: every blocking one, the drift and guardrail warnings.
    Keyed by the check key's string; the value is whether the check blocks."""
    return {
        spec.key.to_user_string(): spec.blocking
        for spec in check_specs
        if spec.blocking or spec.name in (DRIFT_CHECK, GUARDRAILS_CHECK)
    }


def _value(metadata: Mapping[str, object], name: str) -> object:
    entry = metadata.get(name)
    return getattr(entry, "value", entry)


def _check_key(text: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey.from_user_string(text)


def _failed_executions(instance: dg.DagsterInstance, check: str, limit: int):
    return instance.event_log_storage.get_asset_check_execution_history(
        _check_key(check), limit=limit, status={AssetCheckExecutionRecordStatus.FAILED}
    )


def _latest_storage_id(fetch, asset: dg.AssetKey) -> int:
    records = fetch(asset, limit=1).records
    return records[0].storage_id if records else 0


def _present(instance: dg.DagsterInstance, watched: Mapping[str, bool]) -> dict:
    """A cursor at the present: what is already recorded is not alerted."""
    return {
        "observations": _latest_storage_id(instance.fetch_observations, CONTRIBUTED),
        "materializations": _latest_storage_id(instance.fetch_materializations, ROLLBACK_ASSET),
        "checks": {
            check: sorted(r.id for r in _failed_executions(instance, check, FAILED_CHECKS_REMEMBERED))
            for check in watched
        },
    }


def _after(fetch, asset: dg.AssetKey, storage_id: int):
    return fetch(
        dg.AssetRecordsFilter(asset_key=asset, after_storage_id=storage_id), limit=RECORDS_PER_TICK, ascending=True
    ).records


def collect_alerts(instance: dg.DagsterInstance, cursor: dict, watched: Mapping[str, bool]) -> tuple[list[Alert], dict]:
    """The alerts the instance's records since ``cursor`` raise, and the cursor after them."""
    alerts: list[Alert] = []
    observations = _after(instance.fetch_observations, CONTRIBUTED, int(cursor.get("observations", 0)))
    for record in observations:
        metadata = record.asset_observation.metadata
        if _value(metadata, "outcome") == QUARANTINED_OUTCOME:
            alerts.append(
                quarantine_alert(
                    asset=CONTRIBUTED.to_user_string(),
                    code=_value(metadata, "code"),
                    partition=record.partition_key,
                    at=record.timestamp,
                )
            )
    materializations = _after(instance.fetch_materializations, ROLLBACK_ASSET, int(cursor.get("materializations", 0)))
    for record in materializations:
        if is_automatic_rollback(_value(record.asset_materialization.metadata, "stop_reason")):
            alerts.append(
                rollback_alert(
                    asset=AB_EXPERIMENT, experiment=record.partition_key, run_id=record.run_id, at=record.timestamp
                )
            )
    seen_checks = dict(cursor.get("checks", {}))
    for check, blocking in watched.items():
        seen = set(seen_checks.get(check, []))
        for execution in _failed_executions(instance, check, FAILED_CHECKS_READ):
            if execution.id in seen or execution.event is None:
                continue
            seen.add(execution.id)
            evaluation = execution.event.dagster_event.asset_check_evaluation_data
            kind = failed_check_kind(
                evaluation.check_name,
                bool(evaluation.blocking if evaluation.blocking is not None else blocking),
                drift_check=DRIFT_CHECK,
                guardrails_check=GUARDRAILS_CHECK,
            )
            if kind is None:
                continue
            alerts.append(
                failed_check_alert(
                    kind,
                    asset=evaluation.asset_key.to_user_string(),
                    check=evaluation.check_name,
                    partition=execution.partition or evaluation.partition,
                    run_id=execution.run_id,
                    at=execution.event.timestamp,
                    recorded_code=_value(evaluation.metadata, "code"),
                    figures={name: _value(evaluation.metadata, name) for name in ("drifted_share", "breaches")},
                )
            )
        seen_checks[check] = sorted(seen)[-FAILED_CHECKS_REMEMBERED:]
    new_cursor = {
        "observations": observations[-1].storage_id if observations else int(cursor.get("observations", 0)),
        "materializations": (
            materializations[-1].storage_id if materializations else int(cursor.get("materializations", 0))
        ),
        "checks": {check: seen_checks.get(check, []) for check in watched},
    }
    return alerts, new_cursor


def alert_events_tick(
    context: dg.SensorEvaluationContext, settings: Settings, watched: Mapping[str, bool]
) -> dg.SensorResult:
    instance = context.instance
    config = settings.config.alerts
    if not context.cursor or config is None:
        said = NOT_CONFIGURED if config is None else "started: alerting on what is recorded from now on"
        return dg.SensorResult(skip_reason=said, cursor=json.dumps(_present(instance, watched), sort_keys=True))
    alerts, cursor = collect_alerts(instance, json.loads(context.cursor), watched)
    said = f"{len(alerts)} new alert(s)"
    try:
        said += "; " + dispatch(config, settings.layout, alerts, context.log).describe()
    except Exception as error:  # noqa: BLE001 - alerts never stop their sensor (the state file unwritable, ...)
        context.log.warning(f"alerts could not be sent ({type(error).__name__}: {str(error)[:300]})")
        said += "; not sent (see the warning)"
    context.log.info(said)
    return dg.SensorResult(skip_reason=said, cursor=json.dumps(cursor, sort_keys=True))


def _retry_settings(instance: dg.DagsterInstance) -> RunRetrySettings:
    return RunRetrySettings(
        enabled=instance.run_retries_enabled,
        max_retries=instance.run_retries_max_retries,
        retry_on_asset_or_op_failure=instance.run_retries_retry_on_asset_or_op_failure,
    )


def _has_retry_run(instance: dg.DagsterInstance, run_id: str) -> bool:
    children = instance.get_runs(filters=dg.RunsFilter(tags={PARENT_RUN_ID_TAG: run_id}), limit=5)
    return any(RETRY_NUMBER_TAG in child.tags for child in children)  # launched by the retry daemon


def _step_codes(context: dg.RunFailureSensorContext) -> dict[str, str | None]:
    codes: dict[str, str | None] = {}
    for event in context.get_step_failure_events():
        failure = event.step_failure_data
        recorded = None
        if failure.user_failure_data is not None:  # dg.Failure(metadata={"code": ...}) (defs/retries.py)
            recorded = _value(failure.user_failure_data.metadata, "code")
        codes[event.step_key or "?"] = (
            recorded if isinstance(recorded, str) else code_in_message(failure.error.message if failure.error else None)
        )
    return codes


def final_failure_alert(context: dg.RunFailureSensorContext) -> Alert | None:
    """The alert of a failed run that no automatic retry will follow; None for one that will be retried."""
    instance = context.instance
    run = instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run  # the tags as they are now
    if retry_will_follow(run.tags, _retry_settings(instance), has_retry_run=_has_retry_run(instance, run.run_id)):
        return None
    if taken_over(instance, run):  # Dagster lost the retry; lost_retry_sensor runs it again
        return None
    return run_failure_alert(
        job=run.job_name,
        run_id=run.run_id,
        partition=run.tags.get(PARTITION_TAG),
        reason=run.tags.get("dagster/failure_reason"),
        retry_number=retry_number(run.tags),
        step_codes=_step_codes(context),
        at=time.time(),  # the failure event carries no time; the sensor sees it within seconds
    )


def _load(hokusai: HokusaiResource, log) -> Settings | None:
    try:
        return hokusai.load()
    except Exception as error:  # noqa: BLE001 - a broken config is reported by the code location itself
        log.warning(f"settings cannot be loaded ({type(error).__name__}: {str(error)[:300]}); no alert sent")
        return None


def build_alert_sensors(settings: Settings, check_specs: Iterable[dg.AssetCheckSpec]) -> list[dg.SensorDefinition]:
    configured = settings.config.alerts is not None
    status = dg.DefaultSensorStatus.RUNNING if configured else dg.DefaultSensorStatus.STOPPED
    watched = watched_checks(check_specs)
    interval = settings.config.alerts.sensor_interval_seconds if configured else 30

    @dg.sensor(
        name=EVENTS_SENSOR,
        minimum_interval_seconds=interval,
        default_status=status,
        description=(
            "Alerts (hokusai.yaml alerts:) on failed blocking checks, quarantined files, drift warnings and A/B "
            "guardrail breaches and rollbacks; sends the summaries of suppressed repeats. On when alerts are configured."
        ),
    )
    def alert_events_sensor(context: dg.SensorEvaluationContext, hokusai: HokusaiResource) -> dg.SensorResult:
        loaded = _load(hokusai, context.log)
        if loaded is None:
            return dg.SensorResult(skip_reason="settings cannot be loaded (see the warning)", cursor=context.cursor)
        return alert_events_tick(context, loaded, watched)

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=status,
        description=(
            "Alerts (hokusai.yaml alerts:) on a run that failed with no automatic retry to follow "
            "(dagster.yaml run_retries). On when alerts are configured."
        ),
    )
    def alert_run_failure_sensor(context: dg.RunFailureSensorContext, hokusai: HokusaiResource) -> None:
        loaded = _load(hokusai, context.log)
        if loaded is None or loaded.config.alerts is None:
            return
        alert = final_failure_alert(context)
        if alert is None:
            context.log.info(f"run {context.dagster_run.run_id} failed and will be retried: no alert")
            return
        try:
            report = dispatch(loaded.config.alerts, loaded.layout, [alert], context.log)
            context.log.info(f"run {context.dagster_run.run_id} failed for good; {report.describe()}")
        except Exception as error:  # noqa: BLE001 - alerts never stop their sensor
            context.log.warning(f"alert not sent ({type(error).__name__}: {str(error)[:300]})")

    return [alert_events_sensor, alert_run_failure_sensor]
