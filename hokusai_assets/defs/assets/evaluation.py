"""Evaluation: metric tables on the benchmark, then the delta between the two models."""

import dagster as dg
import pandas as pd

from hokusai_assets.defs.metadata import table_metadata
from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.reference import FINGERPRINT_METADATA_KEY
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.evaluation.delta import compute_delta
from hokusai_assets.lib.evaluation.markdown import delta_summary_markdown, metrics_markdown
from hokusai_assets.lib.evaluation.metrics import metrics_table
from hokusai_assets.lib.training.model import TrainedModel
from hokusai_assets.settings.load import Settings


def cv_metadata(tuned_hyperparameters: dict) -> dict[str, float]:
    """The chosen parameters' cross-validated score on the baseline training set (mean and sd
    over the folds), beside the benchmark metrics; nothing when training.tuning is off."""
    tuning = tuned_hyperparameters["tuning"]
    if tuning is None:
        return {}
    return {f"cv/{tuning['metric']}_mean": tuning["cv_mean"], f"cv/{tuning['metric']}_sd": tuning["cv_sd"]}


def _score(settings: Settings, model: TrainedModel, benchmark: pd.DataFrame, **extra_metadata) -> dg.MaterializeResult:
    config = settings.config
    table = metrics_table(config.task.type, config.metric_names, model.predict(benchmark), config.evaluation.average)
    overall = table[table["scope"] == "overall"]
    return dg.MaterializeResult(
        value=table,
        metadata={
            **table_metadata(table),
            "metrics": dg.MetadataValue.md(metrics_markdown(table)),
            "benchmark_rows": len(benchmark),
            # Each overall metric as a number too, so the UI can plot it across partitions.
            **{f"metric/{row.metric}": float(row.value) for row in overall.itertuples()},
            **extra_metadata,
        },
    )


@dg.asset(
    group_name="reference",
    kinds={"pandas", "parquet"},
    io_manager_key="table_io_manager",
    description="Every configured metric of the baseline model on the benchmark, overall and per class.",
)
def baseline_metrics(
    hokusai: HokusaiResource,
    baseline_model: TrainedModel,
    benchmark_dataset: pd.DataFrame,
    tuned_hyperparameters: dict,
) -> dg.MaterializeResult:
    settings = hokusai.load()
    # The fingerprint lets a headless runner tell whether the reference is current.
    return _score(
        settings,
        baseline_model,
        benchmark_dataset,
        **{FINGERPRINT_METADATA_KEY: settings.reference_fingerprint()},
        **cv_metadata(tuned_hyperparameters),
    )


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"pandas", "parquet"},
    io_manager_key="table_io_manager",
    description="Every configured metric of the improved model on the same benchmark, overall and per class.",
)
def improved_metrics(
    hokusai: HokusaiResource, improved_model: TrainedModel, benchmark_dataset: pd.DataFrame
) -> dg.MaterializeResult:
    return _score(hokusai.load(), improved_model, benchmark_dataset)


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"json"},
    io_manager_key="json_io_manager",
    deps=[baseline_metrics, improved_metrics],
    description="Direction-aware metric deltas, paired bootstrap significance, the decision and the DeltaOne score.",
)
def delta_result(
    hokusai: HokusaiResource,
    baseline_model: TrainedModel,
    improved_model: TrainedModel,
    benchmark_dataset: pd.DataFrame,
) -> dg.MaterializeResult:
    settings = hokusai.load()
    delta = compute_delta(
        settings.config.task.type,
        settings.config.evaluation_policy(),
        baseline_model.predict(benchmark_dataset),
        improved_model.predict(benchmark_dataset),
    )
    significance = delta["significance"]
    return dg.MaterializeResult(
        value=delta,
        metadata={
            "summary": dg.MetadataValue.md(delta_summary_markdown(delta)),
            "delta_one_score": delta["delta_one_score"],
            "delta_one_bps": delta["delta_one_bps"],
            "accepted": delta["accepted"],
            "primary_metric": delta["primary_metric"],
            "primary_delta": delta["primary_delta"],
            "ci_lower": significance["ci_lower"],
            "ci_upper": significance["ci_upper"],
        },
    )
