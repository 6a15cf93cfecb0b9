"""A contribution's experiment-tracking record: what its MLflow run is made of.

Plain values and pure functions (no MLflow here): the numbers logged as metrics, the
record handed to the tracker, and the comparison figures logged with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd


def delta_metrics(delta: Mapping[str, Any]) -> dict[str, float]:
    """The delta dict (``lib.evaluation.delta.compute_delta``) as flat MLflow metrics.

    ``baseline.<m>``, ``improved.<m>``, ``delta.<m>`` (new - baseline) and
    ``delta_aware.<m>`` (positive = better) for every metric, plus the score, the decision
    (``accepted`` as 1/0) and the significance numbers.
    """
    metrics: dict[str, float] = {}
    for name, entry in delta.get("metric_deltas", {}).items():
        metrics[f"baseline.{name}"] = float(entry["baseline_value"])
        metrics[f"improved.{name}"] = float(entry["new_value"])
        metrics[f"delta.{name}"] = float(entry["absolute_delta"])
        metrics[f"delta_aware.{name}"] = float(entry["direction_aware_delta"])
        if entry.get("relative_delta") is not None:
            metrics[f"relative_delta.{name}"] = float(entry["relative_delta"])
    for key in ("delta_one_score", "delta_one_bps", "primary_delta", "benchmark_rows"):
        if delta.get(key) is not None:
            metrics[key] = float(delta[key])
    if "accepted" in delta:
        metrics["accepted"] = 1.0 if delta["accepted"] else 0.0
    significance = delta.get("significance") or {}
    for key in ("ci_lower", "ci_upper", "p_value"):
        if significance.get(key) is not None:
            metrics[f"significance.{key}"] = float(significance[key])
    mcnemar = significance.get("mcnemar") or {}
    if mcnemar.get("p_value") is not None:
        metrics["significance.mcnemar_p_value"] = float(mcnemar["p_value"])
    return metrics


def tuning_tracking(tuned: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """(metrics, params) of the ``tuned_hyperparameters`` document for the MLflow run.

    Metrics ``cv.<metric>_mean`` and ``cv.<metric>_sd`` (the chosen parameters' folds on the
    baseline training set) sit beside the benchmark metrics; params ``tuning.*`` say how the
    study ran and its digest. Both empty when nothing was tuned, so untuned runs log as before.
    """
    tuning = tuned.get("tuning")
    if tuning is None:
        return {}, {}
    metric = tuning["metric"]
    metrics = {f"cv.{metric}_mean": float(tuning["cv_mean"]), f"cv.{metric}_sd": float(tuning["cv_sd"])}
    params = {
        f"tuning.{key}": str(tuning[key])
        for key in ("method", "trials", "cv_folds", "seed", "metric", "direction", "best_trial", "study_digest")
    }
    return metrics, params


@dataclass(frozen=True)
class ContributionRecord:
    """Everything one contribution's MLflow run is made of, as plain JSON-able values.

    Plain values (paths as strings) so the same record can be handed to a tracking worker
    process (``services/tracking/worker.py``) or logged in-process, with the same result.
    """

    tracking_uri: str
    experiment: str
    model_name: str
    partition: str
    dagster_run_id: str | None
    task_type: str
    params: dict[str, str]
    metrics: dict[str, float]
    delta: dict[str, Any]
    artifacts: dict[str, str]  # name inside the run -> local file or folder
    improved_model_file: str
    baseline_model_file: str
    benchmark_file: str  # Parquet: the input example and the plots' rows
    plots_dir: str  # where the PNGs and the markdown comparison are written locally

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContributionRecord:
        return cls(**data)


METRICS_COMPARISON_MD = "metrics_comparison.md"


def comparison_figures(record: ContributionRecord, benchmark: pd.DataFrame) -> dict[str, bytes]:
    """The baseline-beside-improved PNGs and the markdown metric table: file name -> bytes.

    Both models are scored on the benchmark again here (a fraction of a second) rather
    than shipping predictions between processes.
    """
    from hokusai_assets.lib.evaluation.markdown import delta_comparison_markdown
    from hokusai_assets.lib.evaluation.plots import comparison_plots
    from hokusai_assets.lib.training.model import model_from_bytes

    baseline = model_from_bytes(Path(record.baseline_model_file).read_bytes())
    improved = model_from_bytes(Path(record.improved_model_file).read_bytes())
    figures = comparison_plots(
        record.task_type, baseline.predict(benchmark), improved.predict(benchmark), title=record.partition
    )
    figures[METRICS_COMPARISON_MD] = delta_comparison_markdown(record.delta.get("metric_deltas", {})).encode()
    return dict(sorted(figures.items()))
