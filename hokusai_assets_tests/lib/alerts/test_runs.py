"""A failed run is alerted only when no automatic retry will follow."""

import pytest

from hokusai_assets.lib.alerts.runs import RunRetrySettings, retry_will_follow

RETRIES = RunRetrySettings(enabled=True, max_retries=2, retry_on_asset_or_op_failure=False)


def test_dagsters_recorded_decision_wins():
    assert retry_will_follow({"dagster/will_retry": "true", "dagster/retry_number": "2"}, RETRIES)
    assert not retry_will_follow({"dagster/will_retry": "false"}, RETRIES)


def test_a_launched_retry_means_not_final():
    assert retry_will_follow({"dagster/will_retry": "false", "dagster/auto_retry_run_id": "r2"}, RETRIES)
    assert retry_will_follow({}, RunRetrySettings(), has_retry_run=True)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"dagster/failure_reason": "RUN_EXCEPTION"}, True),
        ({"dagster/failure_reason": "UNEXPECTED_TERMINATION", "dagster/retry_number": "1"}, True),
        ({"dagster/failure_reason": "UNEXPECTED_TERMINATION", "dagster/retry_number": "2"}, False),  # the last one
        ({"dagster/failure_reason": "STEP_FAILURE"}, False),  # dagster.yaml: not on asset or check failures
        ({"dagster/failure_reason": "STEP_FAILURE", "dagster/retry_on_asset_or_op_failure": "true"}, True),
        ({"dagster/max_retries": "0"}, False),
        ({"dagster/max_retries": "many"}, False),
    ],
)
def test_undecided_runs_are_judged_as_dagster_judges_them(tags, expected):
    assert retry_will_follow(tags, RETRIES) is expected


def test_no_retries_configured_means_every_failure_is_final():
    assert not retry_will_follow({"dagster/failure_reason": "RUN_EXCEPTION"}, RunRetrySettings())
