"""The jobs: prepare the shared reference, evaluate one contribution's chain, rebuild the overview,
close a reward epoch, refresh an A/B experiment."""

import dagster as dg

REFERENCE_ASSETS = (
    "baseline_training_set",
    "benchmark_dataset",
    "tuned_hyperparameters",
    "baseline_model",
    "baseline_metrics",
)
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
    description="Load the baseline and benchmark, tune (when configured), train the baseline model and score it.",
)


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

# Rebuilt after every evaluation, good or bad, by the sensor below and by the headless runner.
refresh_contributions_overview = dg.define_asset_job(
    "refresh_contributions_overview",
    selection=dg.AssetSelection.assets("contributions_overview"),
    description="Rebuild the table of every contribution from what the store, intake and attestations recorded.",
)

REWARD_ASSETS = (
    "reward_epoch",
    "epoch_rows",
    "epoch_model",
    "contribution_values",
    "payouts",
    "epoch_attestation",
    "epoch_mlflow_run",
)

# One reward epoch, from its window to the signed payout root; partitioned by `reward_epochs`.
close_reward_epoch = dg.define_asset_job(
    "close_reward_epoch",
    selection=dg.AssetSelection.assets(*REWARD_ASSETS),
    description="Value the epoch's new rows (Shapley over content clusters), pay the pool, sign the payout root.",
    # The run queue lets one run with this tag through at a time (dagster.yaml).
    tags={"hokusai/reward_epoch": "close"},
)

# One A/B experiment's review (analysis, snapshot, decision) and its guardrail check;
# partitioned by `ab_experiments`, asked for by ab_experiment_sensor while the experiment runs.
AB_EXPERIMENT_ASSETS = ("ab_experiment",)
refresh_ab_experiment = dg.define_asset_job(
    "refresh_ab_experiment",
    selection=dg.AssetSelection.assets(*AB_EXPERIMENT_ASSETS),
    description="Review one A/B experiment: arms, effect with its always-valid interval, decision, guardrails.",
)
