"""The alert sensors on a real Dagster instance, delivering to a local webhook receiver.

Runs are real (``materialize`` / ``execute_in_process`` on ``instance_for_test``), the records
the sensors read are the instance's own; the assets run are small stand-ins that carry the
real keys and checks of the graph (validated_contribution's blocking schema_valid, drift_report's
drift_below_threshold, ab_experiment's ab_guardrails), so no model is trained.
"""

import json
import time

import dagster as dg
import pytest
import yaml

from hokusai_assets.defs.alerts import EVENTS_SENSOR, RUN_FAILURE_SENSOR
from hokusai_assets.defs.checks import check_result
from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets.defs.partitions import ab_experiments, contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.checks import CheckOutcome
from hokusai_assets.lib.experiments.decisions import AUTOMATIC_ROLLBACK_REASON
from hokusai_assets.lib.intake.recovery import MAX_RECOVERIES, RECOVERY_NUMBER_TAG, RETRY_LOST_MESSAGE
from hokusai_assets.lib.monitoring.drift_check import DRIFT_CHECK
from hokusai_assets.settings.load import load_settings
from hokusai_assets_tests.services.alert_receivers import closed_port, http_receiver

KEY = "c-0123456789abcdef"
EXPERIMENT = "ab-00000000aa"
RETRIES = {"run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}}


@dg.asset(
    name="validated_contribution",
    partitions_def=contributions,
    check_specs=[dg.AssetCheckSpec("schema_valid", asset="validated_contribution", blocking=True, partitions_def=contributions)],
)
def bad_contribution() -> dg.MaterializeResult:
    # The description quotes a value, as an intake message may: it must not reach an alert.
    outcome = CheckOutcome("schema_valid", False, True, "label 'alice@example.org' is not an int", {"code": "E_SCHEMA_LABEL"})
    return dg.MaterializeResult(check_results=[check_result(outcome)])


@dg.asset(
    name="drift_report",
    partitions_def=contributions,
    check_specs=[dg.AssetCheckSpec(DRIFT_CHECK, asset="drift_report", blocking=False, partitions_def=contributions)],
)
def drifted_report() -> dg.MaterializeResult:
    outcome = CheckOutcome(DRIFT_CHECK, False, False, "80% of columns drifted", {"drifted_share": 0.8})
    return dg.MaterializeResult(check_results=[check_result(outcome)])


@dg.asset(
    name="ab_experiment",
    partitions_def=ab_experiments,
    check_specs=[dg.AssetCheckSpec("ab_guardrails", asset="ab_experiment", blocking=False, partitions_def=ab_experiments)],
)
def rolled_back_experiment() -> dg.MaterializeResult:
    outcome = CheckOutcome(
        "ab_guardrails", False, False, "guardrail breach", {"code": "E_AB_GUARDRAIL_BREACH", "breaches": "error_rate 0.2 > 0.05"}
    )
    return dg.MaterializeResult(
        metadata={"status": "stopped", "stop_reason": f"{AUTOMATIC_ROLLBACK_REASON}: guardrail breach: error_rate 0.2 > 0.05"},
        check_results=[check_result(outcome)],
    )


@dg.op
def failing_step():
    raise RuntimeError("boom")


@dg.job(name="evaluate_contribution", executor_def=dg.in_process_executor)
def failing_job():
    failing_step()


@pytest.fixture
def alerting(mock_task, tmp_path):
    """Settings with a plain webhook target on a local receiver, the real sensors, a test instance."""
    with http_receiver() as receiver:
        raw = yaml.safe_load(mock_task.config_path.read_text())
        raw["alerts"] = {
            "targets": [{"name": "hook", "type": "webhook", "url": receiver.url}],
            "suppress_seconds": 1,
            "retries": 0,
        }
        path = mock_task.config_path.parent / "with-alerts.yaml"
        path.write_text(yaml.safe_dump(raw))
        settings = load_settings(config_path=path, home=tmp_path / "home", environ={})
        defs = build_definitions(settings)
        sensors = {s.name: s for s in defs.sensors if s.name in (EVENTS_SENSOR, RUN_FAILURE_SENSOR)}
        resources = {"hokusai": HokusaiResource(config_path=str(path), home=str(settings.home))}
        with dg.instance_for_test(overrides=RETRIES) as instance:
            instance.add_dynamic_partitions(contributions.name, [KEY])
            instance.add_dynamic_partitions(ab_experiments.name, [EXPERIMENT])
            yield receiver, instance, sensors, resources, settings


def _tick(sensors, instance, resources, cursor):
    result = sensors[EVENTS_SENSOR](dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))
    return result.cursor


def test_sensors_are_on_when_alerts_are_configured_and_off_without(alerting, mock_settings):
    _, _, sensors, _, _ = alerting
    assert {s.default_status for s in sensors.values()} == {dg.DefaultSensorStatus.RUNNING}
    plain = {s.name: s.default_status for s in build_definitions(mock_settings).sensors}
    assert plain[EVENTS_SENSOR] == plain[RUN_FAILURE_SENSOR] == dg.DefaultSensorStatus.STOPPED


def test_each_kind_of_event_raises_one_alert_and_history_none(alerting):
    receiver, instance, sensors, resources, _ = alerting
    dg.materialize([bad_contribution], instance=instance, partition_key=KEY, raise_on_error=False)  # before: history
    cursor = _tick(sensors, instance, resources, None)
    assert receiver.received == []

    dg.materialize([bad_contribution], instance=instance, partition_key=KEY, raise_on_error=False)
    dg.materialize([drifted_report], instance=instance, partition_key=KEY)
    dg.materialize([rolled_back_experiment], instance=instance, partition_key=EXPERIMENT)
    instance.report_runless_asset_event(  # what contribution_sensor's SensorResult records
        dg.AssetObservation(
            asset_key="contributed_dataset",
            metadata={"outcome": "quarantined", "code": "E_INTAKE_FORMAT", "reason": "alice.csv: unsupported"},
        )
    )
    cursor = _tick(sensors, instance, resources, cursor)
    by_kind = {body["kind"]: body for body in receiver.received}
    assert sorted(by_kind) == ["check_failed", "drift", "guardrail_breach", "quarantined", "rollback"]
    assert len(receiver.received) == 5
    failed = by_kind["check_failed"]
    assert (failed["asset"], failed["check"], failed["partition"], failed["code"]) == (
        "validated_contribution", "schema_valid", KEY, "E_SCHEMA_LABEL",
    )
    assert "80%" in by_kind["drift"]["text"]
    assert by_kind["guardrail_breach"]["code"] == "E_AB_GUARDRAIL_BREACH" and by_kind["rollback"]["partition"] == EXPERIMENT
    assert "alice" not in json.dumps(receiver.received)  # no value, no file name

    _tick(sensors, instance, resources, cursor)  # nothing new: nothing sent
    assert len(receiver.received) == 5


def test_repeats_are_suppressed_then_summarised(alerting):
    receiver, instance, sensors, resources, settings = alerting
    cursor = _tick(sensors, instance, resources, None)
    for _ in range(3):
        dg.materialize([bad_contribution], instance=instance, partition_key=KEY, raise_on_error=False)
    cursor = _tick(sensors, instance, resources, cursor)
    assert [b["suppressed_repeats"] for b in receiver.received] == [0]
    time.sleep(1.1)  # alerts.suppress_seconds: 1
    _tick(sensors, instance, resources, cursor)
    assert [b["suppressed_repeats"] for b in receiver.received] == [0, 2]
    assert settings.layout.alert_state_file.is_file()


def _fail(sensors, instance, resources, tags=None, retry_of=None, retry_lost=False):
    """A failed run of ``failing_job`` (with ``retry_of``: re-executed from that run's failure, as the
    retry daemon does; with ``retry_lost``: whose retry the daemon then failed to launch, as
    when the code server is down), then the run failure sensor on it."""
    if retry_of is None:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False, tags=tags or {})
    else:
        # The retry daemon's runs carry their group in these tags, which Dagster counts retries by.
        root = instance.get_run_by_id(retry_of).tags.get("dagster/root_run_id", retry_of)
        tags = {**(tags or {}), "dagster/parent_run_id": retry_of, "dagster/root_run_id": root}
        result = dg.execute_job(
            dg.reconstructable(failing_job),
            instance=instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(retry_of, instance),
            tags=tags,
            raise_on_error=False,
        )
    assert not result.success
    if retry_lost:  # what Dagster's retry daemon writes when it cannot reach the code server
        instance.report_engine_event(RETRY_LOST_MESSAGE, result.dagster_run)
        instance.add_run_tags(result.run_id, {"dagster/will_retry": "false"})
    context = dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources=resources,
    ).for_run_failure()
    sensors[RUN_FAILURE_SENSOR](context)
    return instance.get_run_by_id(result.run_id)


def test_a_final_run_failure_alerts_once_and_a_retried_one_does_not(alerting):
    receiver, instance, sensors, resources, _ = alerting
    # Step failures are not retried (dagster.yaml: retry_on_asset_or_op_failure false): final.
    run = _fail(sensors, instance, resources)
    assert run.tags["dagster/will_retry"] == "false"
    [body] = receiver.received
    assert (body["kind"], body["job"], body["run_id"]) == ("run_failed", "evaluate_contribution", run.run_id)
    assert "failing_step" in body["text"]

    # A run that run_retries will run again (max_retries 2; Dagster tags it so): no alert, nor for its first retry.
    retry = {"dagster/retry_on_asset_or_op_failure": "true"}
    first = _fail(sensors, instance, resources, tags=retry)
    second = _fail(sensors, instance, resources, tags={**retry, "dagster/retry_number": "1"}, retry_of=first.run_id)
    assert first.tags["dagster/will_retry"] == second.tags["dagster/will_retry"] == "true"
    assert len(receiver.received) == 1

    # The last retry failing is final: alerted (another run id, the same subject: after the window).
    time.sleep(1.1)
    last = _fail(sensors, instance, resources, tags={**retry, "dagster/retry_number": "2"}, retry_of=second.run_id)
    assert last.tags["dagster/will_retry"] == "false"
    assert [b["run_id"] for b in receiver.received] == [run.run_id, last.run_id]
    assert "after 2 automatic retries" in receiver.received[1]["text"]


def test_a_failure_whose_lost_retry_is_run_again_is_not_alerted_until_recoveries_run_out(alerting):
    receiver, instance, sensors, resources, _ = alerting
    retry = {"dagster/retry_on_asset_or_op_failure": "true", "dagster/partition": KEY}
    _fail(sensors, instance, resources, tags=retry, retry_lost=True)  # lost_retry_sensor takes it over
    assert receiver.received == []
    spent = {**retry, RECOVERY_NUMBER_TAG: str(MAX_RECOVERIES)}
    last = _fail(sensors, instance, resources, tags=spent, retry_lost=True)
    assert [(b["kind"], b["run_id"]) for b in receiver.received] == [("run_failed", last.run_id)]


def test_an_unreachable_target_never_fails_the_sensor(alerting):
    receiver, instance, sensors, resources, settings = alerting
    cursor = _tick(sensors, instance, resources, None)
    dg.materialize([drifted_report], instance=instance, partition_key=KEY)
    # The config now points at a port nothing listens on (read afresh each tick, as in the daemon).
    settings.config_path.write_text(
        settings.config_path.read_text().replace(receiver.url, f"http://127.0.0.1:{closed_port()}/alerts")
    )
    cursor = _tick(sensors, instance, resources, cursor)
    assert cursor is not None and receiver.received == []
    [record] = [json.loads(line) for line in settings.layout.undelivered_alerts_log.read_text().splitlines()]
    assert record["alert"]["kind"] == "drift" and record["attempts"] == 1 and "ConnectionRefusedError" in record["error"]
