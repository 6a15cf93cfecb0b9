"""One alert: what happened, to what, when; the same fields whichever target carries it.

An alert names things by identifiers only (asset, check, partition key, run id, error code,
experiment id): never a row value, a file name or a check's free-text description, which
may quote what a contributor sent. The Dagster UI has those, behind its own access.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

CHECK_FAILED = "check_failed"  # a blocking asset check failed: the run stopped there
QUARANTINED = "quarantined"  # the contribution sensor moved a file to quarantine
DRIFT = "drift"  # the drift check warned on a contribution
RUN_FAILED = "run_failed"  # a run failed and no retry will follow
GUARDRAIL_BREACH = "guardrail_breach"  # an A/B experiment's arm B broke a guardrail (or the split)
ROLLBACK = "rollback"  # an A/B experiment rolled itself back
ALERT_KINDS = (CHECK_FAILED, QUARANTINED, DRIFT, RUN_FAILED, GUARDRAIL_BREACH, ROLLBACK)

ERROR = "error"
WARNING = "warning"


def iso_time(timestamp: float) -> str:
    """UTC, to the second, with a Z: the one time format of every alert."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Alert:
    kind: str
    severity: str
    title: str
    text: str
    # Within its kind, what makes two alerts "the same" for suppression (check + code, ...).
    subject: str
    at: float  # when the event happened (seconds since the epoch)
    asset: str | None = None
    check: str | None = None
    partition: str | None = None
    run_id: str | None = None
    job: str | None = None
    code: str | None = None
    # A summary: this many repeats were held back since window_start.
    suppressed: int = 0
    window_start: float | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(**data)

    def summary(self, suppressed: int, window_start: float) -> Alert:
        """This alert as the summary of ``suppressed`` repeats held back since ``window_start``."""
        return replace(
            self,
            title=f"{self.title} (repeated {suppressed} more time{'s' if suppressed != 1 else ''})",
            text=(
                f"{self.text} This alert repeated {suppressed} more time{'s' if suppressed != 1 else ''} between "
                f"{iso_time(window_start)} and {iso_time(self.at)}; those repeats were not sent one by one."
            ),
            suppressed=suppressed,
            window_start=window_start,
        )
