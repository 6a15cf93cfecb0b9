"""Contribution intake: the received bytes, then the validated rows."""


import dagster as dg
import pandas as pd

from hokusai_assets.defs.metadata import table_metadata
from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.defs.types import TaskRows
from hokusai_assets.lib.commit import data_root, file_digest
from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.intake import read_conformed
from hokusai_assets.lib.schema import check_labels


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"file"},
    io_manager_key="json_io_manager",
    description="The contributed file as received, content-addressed in the store, with its contributor sidecar.",
)
def contributed_dataset(context: dg.AssetExecutionContext, hokusai: HokusaiResource) -> dg.MaterializeResult:
    stored = hokusai.store.get(context.partition_key)
    # The key is derived from the bytes: re-hash so a corrupted store never goes unnoticed.
    actual = file_digest(stored.data_path)
    if actual != stored.file_digest:
        raise DataFileError(
            f"stored file for {stored.key} no longer matches its digest ({actual} != {stored.file_digest}); "
            "the store is corrupted: submit the original file again",
            code="E_STORE_CORRUPT",
        )
    manifest = stored.manifest()
    return dg.MaterializeResult(
        value=manifest,
        metadata={
            "file_digest": stored.file_digest,
            "format": stored.format,
            "size_bytes": stored.size_bytes,
            "wallet": stored.contributor.wallet,
        },
    )


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"pandas", "parquet"},
    io_manager_key="table_io_manager",
    dagster_type=TaskRows,
    description="The contribution parsed and conformed to the task schema (columns, types, labels).",
)
def validated_contribution(
    context: dg.AssetExecutionContext,
    hokusai: HokusaiResource,
    contributed_dataset: dict,
    baseline_training_set: pd.DataFrame,
    benchmark_dataset: pd.DataFrame,
) -> dg.MaterializeResult:
    settings = hokusai.load()
    schema = settings.schema
    stored = hokusai.store.get(context.partition_key)
    frame, report = read_conformed(
        stored.data_path,
        schema,
        source=f"contribution {stored.key}",
        nan_policy=settings.config.intake.nan_policy,
        fmt=stored.format,
    )
    known = pd.concat([baseline_training_set[schema.label], benchmark_dataset[schema.label]]).unique().tolist()
    check_labels(frame, schema, known, source=f"contribution {stored.key}")
    return dg.MaterializeResult(
        value=frame,
        metadata={
            **table_metadata(frame),
            "data_root": data_root(frame, schema.columns),
            "input_rows": report.input_rows,
            "dropped_missing_rows": report.dropped_missing_rows,
            "extra_columns_ignored": ", ".join(report.extra_columns) or "none",
        },
    )
