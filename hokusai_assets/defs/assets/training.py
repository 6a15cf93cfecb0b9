"""Training data: the shared reference tables and each contribution's integrated set."""

import dagster as dg
import pandas as pd

from hokusai_assets.defs.metadata import table_metadata
from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.defs.retries import OUTSIDE_RETRY_POLICY, deliberate_errors_not_retried
from hokusai_assets.defs.types import TaskRows
from hokusai_assets.lib.commitments.digests import file_digest
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.intake.reading import load_reference
from hokusai_assets.lib.training.integrate import integrate


def _reference_table(hokusai: HokusaiResource, which: str) -> dg.MaterializeResult:
    settings = hokusai.load()
    path = settings.baseline_path if which == "baseline" else settings.benchmark_path
    with deliberate_errors_not_retried():
        frame, report = load_reference(
            path,
            settings.schema,
            hokusai.pii_key(),
            source=f"{which} data {path.name}",
            nan_policy=settings.config.intake.nan_policy,
            rules=settings.config.intake.parse_rules(),
        )
    return dg.MaterializeResult(
        value=frame,
        metadata={
            **table_metadata(frame),
            "source_file": dg.MetadataValue.path(str(path)),
            "file_digest": file_digest(path),
            "data_root": data_root(frame, settings.schema.columns),
            "dropped_missing_rows": report.dropped_missing_rows,
        },
    )


@dg.asset(
    group_name="reference",
    kinds={"pandas", "parquet"},
    io_manager_key="table_io_manager",
    dagster_type=TaskRows,
    retry_policy=OUTSIDE_RETRY_POLICY,  # task.baseline_data may sit on a network mount
    description="The baseline model's training rows (task.baseline_data), conformed to the task schema.",
)
def baseline_training_set(hokusai: HokusaiResource) -> dg.MaterializeResult:
    return _reference_table(hokusai, "baseline")


@dg.asset(
    group_name="reference",
    kinds={"pandas", "parquet"},
    io_manager_key="table_io_manager",
    dagster_type=TaskRows,
    retry_policy=OUTSIDE_RETRY_POLICY,
    description="The fixed held-out benchmark (task.benchmark_data): every model is scored on it, none trains on it.",
)
def benchmark_dataset(hokusai: HokusaiResource) -> dg.MaterializeResult:
    return _reference_table(hokusai, "benchmark")


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"pandas", "parquet"},
    io_manager_key="table_io_manager",
    dagster_type=TaskRows,
    description="Baseline training set merged with the contribution (strategy, deduplication, stratified cap).",
)
def integrated_training_set(
    hokusai: HokusaiResource,
    baseline_training_set: pd.DataFrame,
    validated_contribution: pd.DataFrame,
) -> dg.MaterializeResult:
    settings = hokusai.load()
    integration = settings.config.integration
    frame, stats = integrate(
        baseline_training_set,
        validated_contribution,
        settings.schema,
        strategy=integration.strategy,
        deduplicate=integration.deduplicate,
        max_samples=integration.max_samples,
        seed=settings.config.training.seed,
    )
    return dg.MaterializeResult(
        value=frame,
        metadata={
            **table_metadata(frame),
            "data_root": data_root(frame, settings.schema.columns),
            "strategy": integration.strategy,
            **stats.as_dict(),
        },
    )
