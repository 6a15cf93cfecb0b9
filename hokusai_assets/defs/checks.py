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


def verification_check(name: str, report) -> dg.AssetCheckResult:
    """A blocking check that passes when a verifier's report (lib/attestation/verify) is ok."""
    failure = report.first_failure
    detail = "all checks passed" if report.ok else f"{failure.name}: {failure.detail}"
    return check_result(CheckOutcome(name, report.ok, True, detail, {check.name: check.ok for check in report.checks}))
