"""Asset check results from check outcomes (lib/checks.py): one translation for every asset."""

import dagster as dg

from hokusai_assets.lib.checks import CheckOutcome


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    """A blocking check fails with ERROR severity (the run stops), any other warns."""
    return dg.AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.blocking else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={key: value for key, value in outcome.metadata.items() if value is not None},
    )
