import dagster as dg

from hokusai_assets.settings.config import Settings

REFERENCE_ASSETS = ("baseline_training_set", "benchmark_dataset", "baseline_model", "baseline_metrics")
CONTRIBUTION_ASSETS = (
    "contributed_dataset",
    "validated_contribution",
    "drift_report",
    "integrated_training_set",
    "improved_model",
    "improved_metrics",
    "delta_result",
    "attestation",
    "mlflow_run",
)

# The shared, unpartitioned reference: run once, and again when config or reference data change.
prepare_baseline = dg.define_asset_job(
    "prepare_baseline",
    selection=dg.AssetSelection.assets(*REFERENCE_ASSETS),
    description="Load the baseline and benchmark, train the baseline model and score it.",
)


def recorded_reference_fingerprint(instance: dg.DagsterInstance) -> str | None:
    """The reference fingerprint the latest materialised reference was built from, if any."""
    latest = instance.get_latest_materialization_event(dg.AssetKey(REFERENCE_ASSETS[-1]))
    if latest is None or latest.asset_materialization is None:
        return None
    recorded = latest.asset_materialization.metadata.get("reference_fingerprint")
    return None if recorded is None else recorded.value


def reference_is_current(instance: dg.DagsterInstance, settings: Settings) -> bool:
    """Whether the reference assets were materialised from today's config, files and code."""
    return recorded_reference_fingerprint(instance) == settings.reference_fingerprint()


# One contribution's chain, from the received file to its attestation; partitioned by
# `contributions` because every selected asset is.
evaluate_contribution = dg.define_asset_job(
    "evaluate_contribution",
    selection=dg.AssetSelection.assets(*CONTRIBUTION_ASSETS),
    description=(
        "Validate one contribution, train the improved model, score it, attest the delta, "
        "and record it in MLflow."
    ),
)
