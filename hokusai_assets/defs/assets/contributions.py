"""Contribution intake: the received bytes, then the validated rows and their checks."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from hokusai_assets.defs.checks import check_result
from hokusai_assets.defs.metadata import table_metadata
from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.defs.retries import OUTSIDE_RETRY_POLICY, deliberate_errors_not_retried
from hokusai_assets.defs.types import TaskRows
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.intake.validate import BLOCKING_CHECKS, CHECKS
from hokusai_assets.services.intake import validate_stored

VALIDATED = "validated_contribution"
CHECK_DESCRIPTIONS = {
    "schema_valid": "The file parses and every task column is present with a valid type and label.",
    "no_cleartext_pii": "Every PII value found was replaced by a keyed pseudonym; none is left in clear.",
    "quality_above_minimum": (
        "Completeness, uniqueness, label balance and in-range values each reach their floor "
        "(intake.quality_floors) and together score at least intake.min_quality."
    ),
    "no_benchmark_leakage": (
        "At most intake.max_leakage_share of the rows copy benchmark features, exactly or nearly (intake.near_copy)."
    ),
    "duplicate_share": "Rows already in the file, the baseline or earlier contributions (removed; they earn nothing).",
}


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"file"},
    io_manager_key="json_io_manager",
    retry_policy=OUTSIDE_RETRY_POLICY,  # HOKUSAI_HOME's store may be shared storage
    description="The contributed file as received, content-addressed and encrypted at rest, with its contributor sidecar.",
)
def contributed_dataset(context: dg.AssetExecutionContext, hokusai: HokusaiResource) -> dg.MaterializeResult:
    with deliberate_errors_not_retried():
        store = hokusai.store()
        stored = store.get(context.partition_key)
        store.read_bytes(stored.key)  # decrypts and re-checks the digest: a damaged entry stops here
    return dg.MaterializeResult(
        value=stored.manifest(),
        metadata={
            "file_digest": stored.file_digest,
            "format": stored.format,
            "size_bytes": stored.size_bytes,
            "wallet": stored.contributor.wallet,
        },
    )


@dg.multi_asset(
    outs={
        VALIDATED: dg.AssetOut(
            group_name="contribution",
            kinds={"pandas", "parquet"},
            io_manager_key="table_io_manager",
            dagster_type=TaskRows,
            description=(
                "The contribution parsed, conformed to the task schema, PII pseudonymised, deduplicated and "
                "leakage-checked. Blocking checks stop a failing contribution before training."
            ),
        )
    },
    partitions_def=contributions,
    # Partitioned checks (preview in Dagster 1.13, pinned): each contribution keeps its own results.
    check_specs=[
        dg.AssetCheckSpec(
            name,
            asset=VALIDATED,
            blocking=name in BLOCKING_CHECKS,
            description=CHECK_DESCRIPTIONS[name],
            partitions_def=contributions,
        )
        for name in CHECKS
    ],
    # Subsettable: a run of a file that does not fit the schema selects schema_valid alone
    # (defs/sensors.py), so the checks it cannot evaluate are not planned, then shown as failed.
    can_subset=True,
)
def validated_contribution(
    context: dg.AssetExecutionContext,
    hokusai: HokusaiResource,
    contributed_dataset: dict,
    baseline_training_set: pd.DataFrame,
    benchmark_dataset: pd.DataFrame,
) -> Iterator[dg.MaterializeResult]:
    settings = hokusai.load()
    result = validate_stored(
        settings, hokusai.store(), context.partition_key, hokusai.pii_key(), baseline_training_set, benchmark_dataset
    )
    selected = {key.name for key in context.selected_asset_check_keys}
    if unplanned := [name for name in result.checks if name not in selected]:
        # The sensor screened this file as not fitting the schema, and now it fits: the config
        # or the reference changed in between. Say so rather than drop the checks' results.
        raise HokusaiError(
            f"{context.partition_key}: this run plans only {', '.join(sorted(selected))}, but the intake also "
            f"evaluated {', '.join(unplanned)} (the config or reference changed since the run was requested); "
            "materialise evaluate_contribution for this partition again",
            code="E_INTAKE_CHECKS_NOT_PLANNED",
        )
    yield dg.MaterializeResult(
        asset_key=VALIDATED,
        value=result.frame,
        check_results=[check_result(check) for check in result.checks.values()],
        metadata={
            **table_metadata(result.frame),
            "data_root": data_root(result.frame, settings.schema.columns),
            "accepted": result.accepted,
            # Numbers only (no bool, no text), so the UI can plot each across contributions.
            **result.figures(),
        },
    )
