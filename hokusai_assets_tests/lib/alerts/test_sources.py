"""Which failed checks alert, and what the alerts of each source say."""

from hokusai_assets.lib.alerts.alert import CHECK_FAILED, DRIFT, GUARDRAIL_BREACH
from hokusai_assets.lib.alerts.sources import (
    code_in_message,
    failed_check_alert,
    failed_check_kind,
    is_automatic_rollback,
    quarantine_alert,
    rollback_alert,
    run_failure_alert,
)
from hokusai_assets.lib.experiments.decisions import AUTOMATIC_ROLLBACK_REASON

NAMES = {"drift_check": "drift_below_threshold", "guardrails_check": "ab_guardrails"}


def test_blocking_drift_and_guardrail_failures_alert_other_warnings_do_not():
    assert failed_check_kind("schema_valid", True, **NAMES) == CHECK_FAILED
    assert failed_check_kind("drift_below_threshold", False, **NAMES) == DRIFT
    assert failed_check_kind("ab_guardrails", False, **NAMES) == GUARDRAIL_BREACH
    assert failed_check_kind("duplicate_share", False, **NAMES) is None


def test_same_check_and_code_is_the_same_subject_across_partitions():
    one, two = (
        failed_check_alert(CHECK_FAILED, asset="v", check="schema_valid", partition=p, run_id="r", at=0,
                           recorded_code="E_SCHEMA_LABEL")
        for p in ("c-1", "c-2")
    )
    assert one.key == two.key == "check_failed:v:schema_valid:E_SCHEMA_LABEL"
    other = failed_check_alert(CHECK_FAILED, asset="v", check="schema_valid", partition="c-1", run_id="r", at=0)
    assert other.key != one.key and other.code == "E_CHECK_SCHEMA_VALID"


def test_guardrail_alert_names_a_sample_ratio_mismatch():
    alert = failed_check_alert(
        GUARDRAIL_BREACH, asset="ab_experiment", check="ab_guardrails", partition="ab-1", run_id="r", at=0,
        recorded_code="E_AB_SAMPLE_RATIO_MISMATCH",
    )
    assert alert.title == "A/B experiment ab-1: sample-ratio mismatch" and alert.subject == "ab-1:E_AB_SAMPLE_RATIO_MISMATCH"


def test_quarantine_and_rollback():
    duplicate = quarantine_alert(asset="contributed_dataset", code="E_INTAKE_DUPLICATE", partition="c-1", at=0)
    assert duplicate.subject == "E_INTAKE_DUPLICATE" and "c-1" in duplicate.text
    assert is_automatic_rollback(f"{AUTOMATIC_ROLLBACK_REASON}: guardrail breach")
    assert not is_automatic_rollback("stopped by ana: done") and not is_automatic_rollback(None)
    assert rollback_alert(asset="ab_experiment", experiment="ab-1", run_id="r", at=0).key == "rollback:ab-1"


def test_run_failure_names_steps_and_codes_never_the_message():
    assert code_in_message("[E_STORE_TAMPERED] c-1: the bytes of alice.csv changed") == "E_STORE_TAMPERED"
    assert code_in_message("RuntimeError: boom") is None
    alert = run_failure_alert(
        job="evaluate_contribution", run_id="r9", partition="c-1", reason="STEP_FAILURE", retry_number=1,
        step_codes={"contributed_dataset": "E_STORE_TAMPERED", "other": None}, at=0,
    )
    assert alert.subject == "evaluate_contribution:E_STORE_TAMPERED" and alert.code == "E_STORE_TAMPERED"
    assert "after 1 automatic retry (STEP_FAILURE); failed steps: contributed_dataset (E_STORE_TAMPERED), other" in alert.text
