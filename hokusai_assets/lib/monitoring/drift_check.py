"""When a contribution's drift warns: the non-blocking ``drift_below_threshold`` check.

Importing this module does not import Evidently; ``drift.detect_drift`` does, when it runs.
"""

from __future__ import annotations

import pandas as pd

from hokusai_assets.lib.checks import CheckOutcome
from hokusai_assets.lib.monitoring.drift import DriftResult
from hokusai_assets.lib.task import TaskSchema

DRIFT_CHECK = "drift_below_threshold"


def drift_columns(
    schema: TaskSchema, reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[list[str], list[str]]:
    """(columns compared, those compared as categorical) for a task.

    Numbers are compared as Evidently infers them, ``category`` features as categorical;
    ``text`` features are left out (Evidently's text drift trains a classifier per column:
    slow, and not a distribution test), and so is a feature with no value on one side
    (all missing: nothing to compare). The label is always compared.
    """
    compared: list[str] = []
    categorical: list[str] = []
    for name, kind in schema.features:
        if kind == "text":
            continue
        if not (reference[name].notna().any() and current[name].notna().any()):
            continue
        compared.append(name)
        if kind == "category":
            categorical.append(name)
    return [*compared, schema.label], categorical


def drift_skip_reason(enabled: bool, rows: int) -> str | None:
    """Why no drift report is made for a contribution (None: make one)."""
    if not enabled:
        return "monitoring.drift_report is off"
    if rows == 0:
        return "no validated rows"
    return None


def drift_check(result: DriftResult | None, share_threshold: float, skipped: str | None = None) -> CheckOutcome:
    """The non-blocking ``drift_below_threshold`` check: passes while fewer than
    ``share_threshold`` of the compared columns drifted (or when no report was made)."""
    if result is None:
        return CheckOutcome(DRIFT_CHECK, True, False, f"skipped: {skipped}")
    below_threshold = result.drifted_share < share_threshold
    drifted = ", ".join(result.drifted_columns) or "none"
    return CheckOutcome(
        DRIFT_CHECK,
        below_threshold,
        False,
        f"{result.drifted_share:.0%} of columns drifted ({drifted}); threshold {share_threshold:.0%}",
        {"drifted_share": result.drifted_share},
    )
