"""What the dashboards are built from, per contribution, on a real SQLite instance: two good
contributions and one that does not fit the schema.

The checks are partitioned, so each contribution keeps its own results; a file that fails its
schema reports that check alone; the numbers Dagster plots across partitions are there for
each; and contributions_overview has a row for every contribution.
"""

import json

import dagster as dg
import pandas as pd
import pytest
import yaml

# Not exported at the top level: the status of a check's record in the event log.
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets.defs.sensors import (
    contributions_overview_after_failure_sensor,
    contributions_overview_sensor,
    intake_tick,
)
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.intake.validate import CHECKS
from hokusai_assets.lib.samples.mock_task import write_mock_task
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.load import load_settings

from .conftest import run_job, run_request

# One worker builds the module's fixture once (pytest -n 2 --dist loadgroup).
pytestmark = pytest.mark.xdist_group("dashboards")

SUCCEEDED = AssetCheckExecutionRecordStatus.SUCCEEDED
FAILED = AssetCheckExecutionRecordStatus.FAILED


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Two good contributions (halves of the mock one) and a third without its label column."""
    tmp = tmp_path_factory.mktemp("dashboards")
    task = write_mock_task(tmp / "task")
    config = yaml.safe_load(task.config_path.read_text())
    config["tracking"] = {"enabled": False}  # MLflow is not what this module is about
    task.config_path.write_text(yaml.safe_dump(config))
    settings = load_settings(config_path=task.config_path, home=tmp / "home", environ={})

    rows = pd.read_csv(task.contribution_path)
    files = {name: tmp / f"{name}.csv" for name in ("first", "second", "bad")}
    rows.iloc[: len(rows) // 2].to_csv(files["first"], index=False)
    rows.iloc[len(rows) // 2 :].to_csv(files["second"], index=False)
    rows.drop(columns=["label"]).to_csv(files["bad"], index=False)
    store = ContributionStore.open(settings.layout, environ={})
    keys = {name: store.put(path, Contributor(wallet=task.wallet))[0].key for name, path in files.items()}

    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        assert run_job(defs, "prepare_baseline", instance).success
        # The runs the contribution sensor asks for, executed as the daemon would.
        tick = intake_tick(dg.build_sensor_context(instance=instance), settings, store)
        for request in tick.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        requests = {request.partition_key: request for request in tick.run_requests}
        runs = {name: run_request(defs, requests[key], instance) for name, key in keys.items()}
        refresh = run_job(defs, "refresh_contributions_overview", instance)
        yield settings, instance, keys, runs, refresh, tick


def latest_by_partition(instance, asset: str, check: str) -> dict[str, AssetCheckExecutionRecordStatus]:
    history = instance.event_log_storage.get_asset_check_execution_history(dg.AssetCheckKey(dg.AssetKey(asset), check), limit=50)
    latest = {}
    for record in history:  # newest first
        latest.setdefault(record.partition, record.status)
    return latest


def test_each_contribution_keeps_its_own_check_results(evaluated):
    _, instance, keys, runs, _, _ = evaluated
    assert runs["first"].success and runs["second"].success and not runs["bad"].success
    good = {keys["first"], keys["second"]}
    for name in CHECKS:
        latest = latest_by_partition(instance, "validated_contribution", name)
        # The good ones stay green after the bad one ran: results are per partition, not "the last run's".
        assert all(latest[key] == SUCCEEDED for key in good), (name, latest)
        if name == "schema_valid":
            assert latest[keys["bad"]] == FAILED
        else:
            # Never evaluated, and never planned: no record, so nothing to show as failed.
            assert keys["bad"] not in latest, (name, latest)
    latest = latest_by_partition(instance, "attestation", "attestation_verified")
    assert latest == dict.fromkeys(good, SUCCEEDED)


def test_the_sensor_plans_only_the_schema_check_for_a_file_that_does_not_fit(evaluated):
    _, _, keys, runs, _, tick = evaluated
    requests = {request.partition_key: request for request in tick.run_requests}
    for name in ("first", "second"):  # the whole chain, every check
        assert requests[keys[name]].asset_selection is None and requests[keys[name]].asset_check_keys is None
    bad = requests[keys["bad"]]
    assert [key.to_user_string() for key in bad.asset_selection] == ["contributed_dataset", "validated_contribution"]
    assert [key.name for key in bad.asset_check_keys] == ["schema_valid"]
    # That run fails on its blocking check, as a rejected file's run should; the others succeed.
    assert not runs["bad"].success and runs["first"].success and runs["second"].success


def test_the_failing_check_says_what_is_wrong_and_what_was_not_looked_at(evaluated):
    _, _, _, runs, _, _ = evaluated
    [evaluation] = runs["bad"].get_asset_check_evaluations()  # the only one reported
    assert evaluation.check_name == "schema_valid" and not evaluation.passed
    assert "missing required column(s) 'label'" in evaluation.description
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    not_evaluated = evaluation.metadata["not_evaluated"].value
    assert all(name in not_evaluated for name in CHECKS[1:])


def materialization_metadata(instance, asset: str, partition: str) -> dict:
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return record.asset_materialization.metadata


def test_the_numbers_plotted_across_contributions_are_there_for_each(evaluated):
    _, instance, keys, _, _, _ = evaluated
    for name in ("first", "second"):
        intake = materialization_metadata(instance, "validated_contribution", keys[name])
        for figure in ("rows_received", "rows_kept", "quality_score", "duplicate_share", "pii_pseudonymised"):
            assert isinstance(intake[figure], (dg.IntMetadataValue, dg.FloatMetadataValue)), figure
        assert intake["rows_kept"].value <= intake["rows_received"].value
        delta = materialization_metadata(instance, "delta_result", keys[name])
        for figure in ("delta_one_bps", "primary_delta", "ci_lower", "ci_upper"):
            assert isinstance(delta[figure], (dg.IntMetadataValue, dg.FloatMetadataValue)), figure
        assert delta["ci_lower"].value <= delta["primary_delta"].value <= delta["ci_upper"].value
    # The rejected file was materialised (empty) with what was measured, and nothing it never had.
    bad = materialization_metadata(instance, "validated_contribution", keys["bad"])
    assert bad["rows_received"].value > 0 and "quality_score" not in bad


def test_the_overview_lists_every_contribution_with_its_decision(evaluated):
    settings, instance, keys, _, refresh, _ = evaluated
    assert refresh.success
    frame = refresh.output_for_node("contributions_overview")
    assert list(frame["partition"]) == [keys["first"], keys["second"], keys["bad"]]  # arrival order
    by_key = frame.set_index("partition")
    assert by_key.loc[keys["bad"], "status"] == "rejected at intake"
    assert by_key.loc[keys["bad"], "accepted"] == False  # noqa: E712 (a pandas nullable boolean)
    assert by_key.loc[keys["bad"], "checks_evaluated"] == 1
    for name in ("first", "second"):
        row = by_key.loc[keys[name]]
        assert row["checks_passed"] == row["checks_evaluated"] == len(CHECKS)
        receipt = json.loads(settings.layout.attestation(keys[name]).receipt.read_bytes())
        assert row["attestation_digest"] == receipt["statement_digest"]
        assert row["status"] in ("attested", "attested, not accepted")
    # The Parquet file is what a notebook reads: the same table.
    parquet = pd.read_parquet(settings.layout.storage_dir / "contributions_overview.parquet")
    pd.testing.assert_frame_equal(parquet, frame)
    latest = instance.get_latest_materialization_event(dg.AssetKey("contributions_overview"))
    markdown = latest.asset_materialization.metadata["contributions"].value
    assert all(key in markdown for key in keys.values())


def test_finished_evaluations_share_one_overview_refresh_that_starts_after_them(evaluated):
    from dagster._core.storage.dagster_run import DagsterRun

    _, instance, _, runs, _, _ = evaluated

    def ask(sensor, run):
        event = run.get_run_success_event() if run.success else run.get_run_failure_event()
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_instance=instance, dagster_run=instance.get_run_by_id(run.run_id),
            dagster_event=event,
        )
        return sensor(context.for_run_failure() if sensor is contributions_overview_after_failure_sensor else context)

    def refresh_run(status: dg.DagsterRunStatus) -> DagsterRun:
        return instance.add_run(DagsterRun(job_name="refresh_contributions_overview", status=status))

    # The fixture's refresh has finished: both evaluations ask for a new one with the same key
    # (each sensor launches a run key once, so a burst asks each sensor for one at a time).
    [done] = instance.get_runs(dg.RunsFilter(job_name="refresh_contributions_overview"))
    asked = [ask(contributions_overview_sensor, runs["first"]), ask(contributions_overview_after_failure_sensor, runs["bad"])]
    assert {(r.job_name, r.run_key) for r in asked} == {("refresh_contributions_overview", f"overview-after-{done.run_id}")}
    # A refresh not yet started (queued, or created and not launched) has read nothing yet: it
    # covers an evaluation that finished before it starts.
    queued = refresh_run(dg.DagsterRunStatus.NOT_STARTED)
    skipped = ask(contributions_overview_sensor, runs["second"])
    assert isinstance(skipped, dg.SkipReason) and queued.run_id in skipped.skip_message
    # Once it has started it may have read the store before this evaluation ended: a new one, keyed after it.
    started = refresh_run(dg.DagsterRunStatus.STARTED)
    request = ask(contributions_overview_sensor, runs["second"])
    assert request.run_key == f"overview-after-{started.run_id}"
