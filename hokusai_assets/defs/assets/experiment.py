"""Experiment tracking: one MLflow run per contribution, and its model as the registry's challenger."""

from pathlib import Path

import dagster as dg

from hokusai_assets.defs.assets.attestation import attestation
from hokusai_assets.defs.assets.models import baseline_model, improved_model
from hokusai_assets.defs.assets.training import benchmark_dataset
from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource, TrackingResource
from hokusai_assets.defs.retries import OUTSIDE_RETRY_POLICY
from hokusai_assets.lib.tracking.record import (
    METRICS_COMPARISON_MD,
    ContributionRecord,
    delta_metrics,
    tuning_tracking,
)
from hokusai_assets.lib.training.tuning import training_hyperparameters
from hokusai_assets.services.tuning import TUNED_ASSET


def _params(settings, key: str, contributor: dict, hyperparameters: dict) -> dict[str, str]:
    config = settings.config
    params = {
        "config_digest": settings.config_digest,
        "seed": config.training.seed,
        "framework": config.training.framework,
        "model": config.training.model,
        "task_type": config.task.type,
        "integration_strategy": config.integration.strategy,
        "contribution_key": key,
        "wallet": contributor["wallet"],
        # What the models were trained with: training.hyperparameters, and the tuned ones if any.
        **{f"hp.{name}": value for name, value in sorted(hyperparameters.items())},
    }
    return {name: str(value) for name, value in params.items()}


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"mlflow"},
    deps=[attestation, improved_model, baseline_model, benchmark_dataset],
    retry_policy=OUTSIDE_RETRY_POLICY,  # MLflow: a server, in production
    description=(
        "The contribution's MLflow run (params, every metric and delta, plots, the delta and the "
        "attestation as artifacts) and its improved model registered as the task model's challenger."
    ),
)
def mlflow_run(
    context: dg.AssetExecutionContext,
    hokusai: HokusaiResource,
    mlflow_tracking: TrackingResource,
    contributed_dataset: dict,
    delta_result: dict,
    drift_report: dict,
    tuned_hyperparameters: dict,
) -> dg.MaterializeResult:
    settings = hokusai.load()
    if not settings.config.tracking.enabled:
        return dg.MaterializeResult(metadata={"enabled": False, "reason": "tracking.enabled is off"})
    key = context.partition_key
    layout = settings.layout
    metrics = delta_metrics(delta_result)
    if drift_report.get("enabled"):
        metrics["drift.drifted_share"] = float(drift_report["drifted_share"])
    cv_metrics, tuning_params = tuning_tracking(tuned_hyperparameters)
    metrics |= cv_metrics
    artifacts = {
        "delta/delta_result.json": layout.document_file("delta_result", key),
        "attestation": layout.attestation(key).directory,
    }
    if tuned_hyperparameters["tuning"] is not None:
        # The study's every trial (params, fold scores, CV score) as the run's trials table.
        artifacts["tuning/tuned_hyperparameters.json"] = layout.document_file(TUNED_ASSET)
    drift_html = layout.drift_report_file(key)
    if drift_html.is_file():
        artifacts["drift/drift_report.html"] = drift_html
    record = ContributionRecord(
        tracking_uri=mlflow_tracking.resolved_uri(),
        experiment=settings.config.experiment_name,
        model_name=settings.config.registered_model_name,
        partition=key,
        dagster_run_id=context.run.run_id,
        task_type=settings.config.task.type,
        params={
            **_params(
                settings,
                key,
                contributed_dataset["contributor"],
                training_hyperparameters(settings.config.training.hyperparameters, tuned_hyperparameters),
            ),
            **tuning_params,
        },
        metrics=metrics,
        delta=delta_result,
        artifacts={name: str(path) for name, path in artifacts.items()},
        improved_model_file=str(layout.model_file("improved_model", key)),
        baseline_model_file=str(layout.model_file("baseline_model")),
        benchmark_file=str(layout.table_file("benchmark_dataset")),
        plots_dir=str(layout.comparison_dir(key)),
    )
    tracked = mlflow_tracking.track(record.to_json(), context.log)
    run_link = tracked.get("run_url") or (
        f"{settings.config.tracking.ui_url.rstrip('/')}/#/experiments/{tracked['experiment_id']}/runs/{tracked['run_id']}"
    )
    plots = tracked["plots"]
    comparison = Path(plots.pop(METRICS_COMPARISON_MD)).read_text(encoding="utf-8")
    return dg.MaterializeResult(
        metadata={
            "mlflow_run": dg.MetadataValue.url(run_link),
            "run_id": tracked["run_id"],
            "experiment_id": tracked["experiment_id"],
            "model_uri": tracked["model_uri"],
            "model_version": int(tracked["model_version"]),
            "artifact_uri": tracked["artifact_uri"],
            "comparison": dg.MetadataValue.md(comparison),
            **{f"plot/{name}": dg.MetadataValue.path(path) for name, path in sorted(plots.items())},
        },
    )
