"""Monitoring: how far a contribution's distribution is from the baseline's (Evidently)."""

import dagster as dg
import pandas as pd

from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.evaluation.markdown import markdown_table
from hokusai_assets.lib.files import atomic_write_bytes


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"evidently", "html"},
    io_manager_key="json_io_manager",
    dagster_type=dict,
    check_specs=[
        dg.AssetCheckSpec(
            "drift_below_threshold",
            asset="drift_report",
            blocking=False,
            description="Fewer than monitoring.drift_share_threshold of the task's columns drifted from the baseline.",
        )
    ],
    description="Evidently data-drift report of the contribution against the baseline training set; its digest is attested.",
)
def drift_report(
    context: dg.AssetExecutionContext,
    hokusai: HokusaiResource,
    validated_contribution: pd.DataFrame,
    baseline_training_set: pd.DataFrame,
) -> dg.MaterializeResult:
    settings = hokusai.load()
    monitoring = settings.config.monitoring
    if not monitoring.drift_report or validated_contribution.empty:
        reason = "monitoring.drift_report is off" if not monitoring.drift_report else "no validated rows"
        return dg.MaterializeResult(
            value={"enabled": False, "reason": reason},
            metadata={"enabled": False, "reason": reason},
            check_results=[dg.AssetCheckResult(check_name="drift_below_threshold", passed=True, description=f"skipped: {reason}")],
        )
    from hokusai_assets.lib.monitoring.drift import detect_drift  # Evidently is imported only here

    schema = settings.schema
    result = detect_drift(
        baseline_training_set,
        validated_contribution,
        [*schema.feature_names, schema.label],
        share_threshold=monitoring.drift_share_threshold,
        label=schema.label,
        task_type=schema.task_type,
    )
    html_path = settings.layout.drift_report_file(context.partition_key)
    atomic_write_bytes(html_path, result.html)
    drifted = result.drifted_share < monitoring.drift_share_threshold
    rows = [(c.column, c.method, c.score, c.threshold, "yes" if c.drifted else "no") for c in result.columns]
    return dg.MaterializeResult(
        value={"enabled": True, **result.as_dict()},
        metadata={
            "report": dg.MetadataValue.path(str(html_path)),
            "digest": result.digest,
            "drifted_share": result.drifted_share,
            "dataset_drift": result.dataset_drift,
            "columns": dg.MetadataValue.md(markdown_table(["column", "test", "score", "threshold", "drifted"], rows)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="drift_below_threshold",
                passed=drifted,
                severity=dg.AssetCheckSeverity.WARN,
                description=(
                    f"{result.drifted_share:.0%} of columns drifted ({', '.join(result.drifted_columns) or 'none'}); "
                    f"threshold {monitoring.drift_share_threshold:.0%}"
                ),
                metadata={"drifted_share": result.drifted_share},
            )
        ],
    )
