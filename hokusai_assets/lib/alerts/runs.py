"""Whether a failed run is final: alerted only when no automatic retry will follow.

Dagster's run retries (dagster.yaml ``run_retries``) re-run a failed run up to
``max_retries`` times; the daemon records its decision on the failed run as the tag
``dagster/will_retry`` and, once it has launched the retry, ``dagster/auto_retry_run_id``.
Where the decision is not recorded (retries switched on after the run), it is taken again
here the way Dagster takes it: from the retry number, the run's failure reason and the
instance's settings, each overridable by the run's own tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

WILL_RETRY_TAG = "dagster/will_retry"
AUTO_RETRY_RUN_ID_TAG = "dagster/auto_retry_run_id"
RETRY_NUMBER_TAG = "dagster/retry_number"
MAX_RETRIES_TAG = "dagster/max_retries"
RETRY_ON_ASSET_OR_OP_FAILURE_TAG = "dagster/retry_on_asset_or_op_failure"
FAILURE_REASON_TAG = "dagster/failure_reason"
STEP_FAILURE = "STEP_FAILURE"


@dataclass(frozen=True)
class RunRetrySettings:
    """The instance's ``run_retries`` section."""

    enabled: bool = False
    max_retries: int = 0
    retry_on_asset_or_op_failure: bool = True


def _integer(value: str | None, default: int) -> int | None:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        return None


def retry_number(tags: Mapping[str, str]) -> int:
    return _integer(tags.get(RETRY_NUMBER_TAG), 0) or 0


def retry_will_follow(tags: Mapping[str, str], retries: RunRetrySettings, *, has_retry_run: bool = False) -> bool:
    """True when the failed run with ``tags`` is (or will be) run again automatically."""
    if has_retry_run or tags.get(AUTO_RETRY_RUN_ID_TAG):
        return True
    decided = tags.get(WILL_RETRY_TAG)
    if decided is not None:
        return decided.strip().lower() == "true"
    if not retries.enabled:
        return False
    on_step_failure = tags.get(RETRY_ON_ASSET_OR_OP_FAILURE_TAG)
    retry_step_failures = (
        retries.retry_on_asset_or_op_failure if on_step_failure is None else on_step_failure.lower() == "true"
    )
    if tags.get(FAILURE_REASON_TAG) == STEP_FAILURE and not retry_step_failures:
        return False
    max_retries = _integer(tags.get(MAX_RETRIES_TAG), retries.max_retries)
    if max_retries is None:  # Dagster does not retry a run whose max_retries tag is not a number
        return False
    return retry_number(tags) < max_retries
