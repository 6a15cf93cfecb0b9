"""Which events raise an alert, and how each is worded.

Each builder takes identifiers and numbers only (see alert.py: no row values, no file names,
no free text a contributor could have shaped) and says what happened, what it means for the
pipeline and where to look.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hokusai_assets.lib.alerts.alert import (
    CHECK_FAILED,
    DRIFT,
    ERROR,
    GUARDRAIL_BREACH,
    QUARANTINED,
    ROLLBACK,
    RUN_FAILED,
    WARNING,
    Alert,
)
from hokusai_assets.lib.checks import failure_code
from hokusai_assets.lib.experiments.decisions import AUTOMATIC_ROLLBACK_REASON

QUARANTINED_OUTCOME = "quarantined"  # contribution_sensor's observation of contributed_dataset
# Error codes are upper-case words (lib/errors.py); anything else recorded as a code is not shown.
_CODE = re.compile(r"^E_[A-Z0-9_]{1,80}$")
_CODE_PREFIX = re.compile(r"^\[(E_[A-Z0-9_]{1,80})\]")  # how str(HokusaiError) starts


def safe_code(value: object) -> str | None:
    """``value`` if it is an error code, else None."""
    return value if isinstance(value, str) and _CODE.fullmatch(value) else None


def code_in_message(message: str | None) -> str | None:
    """The code a ``[E_CODE] message`` carries, without the message (which may quote data)."""
    match = _CODE_PREFIX.match(message or "")
    return match.group(1) if match else None


def _where(asset: str, partition: str | None) -> str:
    return f"{asset}[{partition}]" if partition else asset


def failed_check_kind(check: str, blocking: bool, *, drift_check: str, guardrails_check: str) -> str | None:
    """The alert a failed check raises: a blocking one stops a run; of the warnings, drift
    and an experiment's guardrails are alerted; any other warning is only shown in the UI."""
    if blocking:
        return CHECK_FAILED
    if check == drift_check:
        return DRIFT
    if check == guardrails_check:
        return GUARDRAIL_BREACH
    return None


def failed_check_alert(
    kind: str,
    *,
    asset: str,
    check: str,
    partition: str | None,
    run_id: str,
    at: float,
    recorded_code: object = None,
    figures: Mapping[str, object] | None = None,
) -> Alert:
    figures = figures or {}
    code = failure_code(check, safe_code(recorded_code))
    common = dict(asset=asset, check=check, partition=partition, run_id=run_id, at=at, code=code)
    if kind == DRIFT:
        share = figures.get("drifted_share")
        share_text = f"{share:.0%} of" if isinstance(share, int | float) else "too many of"
        return Alert(
            kind=DRIFT,
            severity=WARNING,
            title=f"Drift warning on {_where(asset, partition)}",
            text=(
                f"{share_text} the compared columns of {_where(asset, partition)} drifted from the baseline "
                f"(check {check}, at monitoring.drift_share_threshold or more) in run {run_id}. The run went on; "
                "the drift report linked from the asset's metadata shows which columns."
            ),
            subject=f"{asset}:{check}",
            **common,
        )
    if kind == GUARDRAIL_BREACH:
        what = "sample-ratio mismatch" if code == "E_AB_SAMPLE_RATIO_MISMATCH" else "guardrail breach"
        breaches = str(figures.get("breaches") or "")[:300]
        return Alert(
            kind=GUARDRAIL_BREACH,
            severity=WARNING,
            title=f"A/B experiment {partition}: {what}",
            text=(
                f"The review of A/B experiment {partition} in run {run_id} found a {what}"
                + (f" ({breaches})" if breaches else "")
                + ". Arm B is still served unless the experiment was started with --auto-rollback; "
                "`hokusai ab status` shows the numbers."
            ),
            subject=f"{partition}:{code}",
            **common,
        )
    return Alert(
        kind=CHECK_FAILED,
        severity=ERROR,
        title=f"Blocking check {check} failed on {_where(asset, partition)}",
        text=(
            f"{_where(asset, partition)} failed its blocking check {check} ({code}) in run {run_id}: the run "
            "stopped there and nothing downstream was built from it. The check's description in the Dagster UI "
            "says what is wrong and what to do."
        ),
        subject=f"{asset}:{check}:{code}",
        **common,
    )


def quarantine_alert(*, asset: str, code: object, partition: str | None, at: float) -> Alert:
    shown = safe_code(code) or "E_INTAKE"
    duplicate = f" It repeats the bytes of contribution {partition}." if partition else ""
    return Alert(
        kind=QUARANTINED,
        severity=ERROR,
        title=f"File quarantined ({shown})",
        text=(
            f"The contribution sensor rejected a file ({shown}) and moved it, unchanged, to the quarantine folder "
            f"with a JSON reason beside it.{duplicate} The quarantined observation of {asset} in the Dagster UI "
            "says why."
        ),
        subject=shown,
        asset=asset,
        partition=partition,
        code=shown,
        at=at,
    )


def is_automatic_rollback(stop_reason: object) -> bool:
    return isinstance(stop_reason, str) and stop_reason.startswith(AUTOMATIC_ROLLBACK_REASON)


def rollback_alert(*, asset: str, experiment: str, run_id: str, at: float) -> Alert:
    return Alert(
        kind=ROLLBACK,
        severity=ERROR,
        title=f"A/B experiment {experiment} rolled back",
        text=(
            f"A/B experiment {experiment} broke a guardrail and rolled itself back: arm B is no longer served, "
            "every request goes to the alias A names again (the champion by default). The registry's audit log "
            f"and `hokusai ab status {experiment}` say which guardrail; seen in run {run_id}."
        ),
        subject=experiment,
        asset=asset,
        partition=experiment,
        run_id=run_id,
        at=at,
    )


def run_failure_alert(
    *,
    job: str,
    run_id: str,
    partition: str | None,
    reason: str | None,
    retry_number: int,
    step_codes: Mapping[str, str | None],
    at: float,
) -> Alert:
    """A run that failed for good; ``step_codes`` maps each failed step to its error code (or None)."""
    codes = sorted({code for code in step_codes.values() if code})
    steps = ", ".join(f"{step} ({code})" if code else step for step, code in sorted(step_codes.items()))
    attempts = f" after {retry_number} automatic retr{'y' if retry_number == 1 else 'ies'}" if retry_number else ""
    where = f" for partition {partition}" if partition else ""
    return Alert(
        kind=RUN_FAILED,
        severity=ERROR,
        title=f"Run of {job} failed{where}",
        text=(
            f"Run {run_id} of {job}{where} failed{attempts}"
            + (f" ({reason})" if reason else "")
            + (f"; failed steps: {steps}" if steps else "")
            + ". No automatic retry will follow: re-execute it from the Dagster UI once the cause is fixed."
        ),
        subject=f"{job}:{','.join(codes) or reason or 'failed'}",
        partition=partition,
        run_id=run_id,
        job=job,
        code=codes[0] if len(codes) == 1 else None,
        at=at,
    )
