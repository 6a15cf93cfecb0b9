"""Which failed contribution runs to ask for again because Dagster's own retry was lost.

dagster.yaml's run_retries re-runs a run that died for a reason outside the code. To do
so the daemon needs the code server; when it cannot reach it (killed, restarting), Dagster
writes "Failed to retry run" on the failed run, tags it ``dagster/will_retry=false`` and
gives up for good. That contribution would then never be attested. The recovery sensor
(defs/run_recovery.py) asks for such a contribution's run once more, when nothing else
has attested it or is working on it, at most MAX_RECOVERIES times in a row.
"""

from collections.abc import Mapping
from dataclasses import dataclass

RETRY_LOST_MESSAGE = "Failed to retry run"  # Dagster's engine event when it could not launch a retry
RECOVERED_FROM_TAG = "hokusai/recovered_from"
RECOVERY_NUMBER_TAG = "hokusai/recovery_number"
MAX_RECOVERIES = 2


@dataclass(frozen=True)
class FailedRun:
    run_id: str
    partition: str
    tags: Mapping[str, str]
    retry_lost: bool  # Dagster decided to retry it and could not


@dataclass(frozen=True)
class Recovery:
    partition: str
    run_key: str
    tags: dict[str, str]


def recovery_for(run: FailedRun, *, attested: bool, other_run_live_or_done: bool) -> Recovery | str | None:
    """The run to ask for instead of ``run``; a sentence saying why not, when one was due but
    is refused; None when none is due (its retry was not lost, or the contribution has an
    attestation or another run under way or succeeded)."""
    if not run.retry_lost or attested or other_run_live_or_done:
        return None
    try:
        number = int(run.tags.get(RECOVERY_NUMBER_TAG, "0")) + 1
    except ValueError:
        number = MAX_RECOVERIES + 1
    if number > MAX_RECOVERIES:
        return f"{run.partition}: run {run.run_id} lost its retry after {MAX_RECOVERIES} recoveries; left failed"
    return Recovery(
        partition=run.partition,
        run_key=f"recover-{run.run_id}",
        tags={RECOVERED_FROM_TAG: run.run_id, RECOVERY_NUMBER_TAG: str(number)},
    )
