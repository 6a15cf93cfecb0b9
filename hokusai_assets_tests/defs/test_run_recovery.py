"""lost_retry_sensor on a real instance: a failed evaluation whose retry Dagster could not
launch is asked for again; one that is attested, has another run, or lost nothing is not;
each failed run is read once (the cursor) and asked for once (its run key)."""

import uuid

import dagster as dg
import pytest

from hokusai_assets.defs.run_recovery import recovery_tick
from hokusai_assets.lib.intake.recovery import RECOVERED_FROM_TAG, RETRY_LOST_MESSAGE


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def failed_run(instance, partition: str, retry_lost: bool = True, status=dg.DagsterRunStatus.FAILURE) -> str:
    run = dg.DagsterRun(
        job_name="evaluate_contribution",
        run_id=str(uuid.uuid4()),
        status=status,
        tags={"dagster/partition": partition, "dagster/will_retry": "false"},
    )
    instance.add_run(run)
    if retry_lost:
        instance.report_engine_event(RETRY_LOST_MESSAGE, run)
    return run.run_id


def tick(instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return recovery_tick(context)


def test_only_the_contribution_whose_retry_was_lost_and_nothing_else_handles_runs_again(instance):
    lost = failed_run(instance, "c-lost")
    failed_run(instance, "c-check-failed", retry_lost=False)  # a bad file: its failure would only repeat
    failed_run(instance, "c-attested")
    instance.report_runless_asset_event(dg.AssetMaterialization("attestation", partition="c-attested"))
    failed_run(instance, "c-running")
    failed_run(instance, "c-running", retry_lost=False, status=dg.DagsterRunStatus.STARTED)

    result = tick(instance)
    [request] = result.run_requests
    assert (request.partition_key, request.job_name) == ("c-lost", "evaluate_contribution")
    assert request.tags[RECOVERED_FROM_TAG] == lost and request.run_key == f"recover-{lost}"

    # The cursor moves past what was read: the next tick reads only newer failures.
    assert isinstance(tick(instance, cursor=result.cursor), dg.SkipReason)
    newer = failed_run(instance, "c-later")
    [again] = tick(instance, cursor=result.cursor).run_requests
    assert again.tags[RECOVERED_FROM_TAG] == newer


def test_an_empty_instance_says_there_is_nothing_to_recover(instance):
    assert isinstance(tick(instance), dg.SkipReason)
