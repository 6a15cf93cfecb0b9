"""A contribution whose automatic retry was lost is asked for again, once per lost retry,
never when it is attested or being worked on, and not for ever."""

from hokusai_assets.lib.intake.recovery import (
    MAX_RECOVERIES,
    RECOVERED_FROM_TAG,
    RECOVERY_NUMBER_TAG,
    FailedRun,
    Recovery,
    recovery_for,
)


def failed(retry_lost: bool = True, **tags: str) -> FailedRun:
    return FailedRun("run-1", "c-1", {k.replace("_", "/", 1): v for k, v in tags.items()}, retry_lost)


def test_a_lost_retry_is_recovered_under_a_run_key_of_its_own():
    recovery = recovery_for(failed(), attested=False, other_run_live_or_done=False)
    assert recovery == Recovery("c-1", "recover-run-1", {RECOVERED_FROM_TAG: "run-1", RECOVERY_NUMBER_TAG: "1"})


def test_nothing_is_due_when_the_retry_was_not_lost_or_the_contribution_is_handled():
    assert recovery_for(failed(retry_lost=False), attested=False, other_run_live_or_done=False) is None
    assert recovery_for(failed(), attested=True, other_run_live_or_done=False) is None
    assert recovery_for(failed(), attested=False, other_run_live_or_done=True) is None


def test_recoveries_stop_after_the_limit_with_a_reason():
    again = recovery_for(failed(hokusai_recovery_number=str(MAX_RECOVERIES - 1)), attested=False, other_run_live_or_done=False)
    assert isinstance(again, Recovery) and again.tags[RECOVERY_NUMBER_TAG] == str(MAX_RECOVERIES)
    refused = recovery_for(failed(hokusai_recovery_number=str(MAX_RECOVERIES)), attested=False, other_run_live_or_done=False)
    assert isinstance(refused, str) and "run-1" in refused and "left failed" in refused
    garbled = recovery_for(failed(hokusai_recovery_number="x"), attested=False, other_run_live_or_done=False)
    assert isinstance(garbled, str)
