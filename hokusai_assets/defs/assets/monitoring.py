"""Monitoring: how far a contribution's distribution is from the baseline's (Evidently)."""

import dagster as dg
import pandas as pd

from hokusai_assets.defs.checks import check_result
from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.evaluation.markdown import markdown_table
from hokusai_assets.lib.files import atomic_write_bytes

# Evidently (3.5 s) is imported by detect_drift when it runs, not by this import.
from hokusai_assets.lib.monitoring.drift import detect_drift
from hokusai_assets.lib.monitoring.drift_check import DRIFT_CHECK, drift_check, drift_columns, drift_skip_reason


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"evidently", "html"},
    io_manager_key="json_io_manager",
    dagster_type=dict,
    check_specs=[
        dg.AssetCheckSpec(
            DRIFT_CHECK,
            asset="drift_report",
            blocking=False,
            partitions_def=contributions,
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
    skipped = drift_skip_reason(monitoring.drift_report, len(validated_contribution))
    if skipped:
        return dg.MaterializeResult(
            value={"enabled": False, "reason": skipped},
            metadata={"enabled": False, "reason": skipped},
            check_results=[check_result(drift_check(None, monitoring.drift_share_threshold, skipped))],
        )
    schema = settings.schema
    compared, categorical = drift_columns(schema, baseline_training_set, validated_contribution)
    result = detect_drift(
        baseline_training_set,
        validated_contribution,
        compared,
        share_threshold=monitoring.drift_share_threshold,
        label=schema.label,
        task_type=schema.task_type,
        categorical=categorical,
    )
    html_path = settings.layout.drift_report_file(context.partition_key)
    atomic_write_bytes(html_path, result.html)
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
        check_results=[check_result(drift_check(result, monitoring.drift_share_threshold))],
    )
