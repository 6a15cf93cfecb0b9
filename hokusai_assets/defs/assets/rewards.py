"""Reward epochs: from the contributions attested in a window to a signed payout root.

reward_epoch[e] + epoch_rows[e] -> epoch_model[e] -> contribution_values[e] -> payouts[e]
-> epoch_attestation[e] -> epoch_mlflow_run[e], partitioned by ``reward_epochs``. The rules
live in lib/rewards; the files in services/epoch*.py.
"""

import base64
import os
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from hokusai_assets.defs.checks import verification_check
from hokusai_assets.defs.metadata import table_metadata
from hokusai_assets.defs.partitions import reward_epochs
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.rewards.coalitions import training_set
from hokusai_assets.lib.rewards.epoch_rows import MemberAccount
from hokusai_assets.lib.rewards.payout_tree import PayoutTree
from hokusai_assets.lib.rewards.payouts import allocate_players
from hokusai_assets.lib.rewards.report import epoch_markdown, harmful_markdown, values_plot_png
from hokusai_assets.lib.rewards.statement import epoch_statement
from hokusai_assets.lib.training.model import TrainedModel
from hokusai_assets.lib.training.trainers import get_trainer
from hokusai_assets.lib.training.tuning import training_hyperparameters
from hokusai_assets.services.epoch_files import PLOT_FILE, attest_epoch, epoch_predicate_of
from hokusai_assets.services.epoch_valuation import value_epoch
from hokusai_assets.services.epochs import gather_epoch, rewards_config

GROUP = "rewards"


@dg.multi_asset(
    outs={
        "reward_epoch": dg.AssetOut(
            group_name=GROUP, kinds={"json"}, io_manager_key="json_io_manager",
            description="The epoch's members (attested contributions received before its cutoff) and each one's row account.",
        ),
        "epoch_rows": dg.AssetOut(
            group_name=GROUP, kinds={"pandas", "parquet"}, io_manager_key="table_io_manager",
            description="The epoch's new rows, each once, held by the earliest contribution received with it (content order).",
        ),
    },
    partitions_def=reward_epochs,
)  # fmt: skip
def reward_epoch(
    context: dg.AssetExecutionContext,
    hokusai: HokusaiResource,
    baseline_training_set: pd.DataFrame,
    benchmark_dataset: pd.DataFrame,
) -> Iterator[dg.MaterializeResult]:
    document, table = gather_epoch(
        hokusai.load(), hokusai.store(), context.partition_key, baseline_training_set, benchmark_dataset
    )
    members = document["contributions"]
    context.log.info(f"{context.partition_key}: {len(members)} contribution(s), {len(table)} new row(s)")
    yield dg.MaterializeResult(
        asset_key="reward_epoch",
        value=document,
        metadata={
            "contributions": len(members),
            "new_rows": len(table),
            "wallets": len({m["wallet"] for m in members}),
        },
    )
    yield dg.MaterializeResult(asset_key="epoch_rows", value=table, metadata=table_metadata(table))


@dg.asset(
    partitions_def=reward_epochs,
    group_name=GROUP,
    kinds={"scikitlearn", "pytorch"},
    io_manager_key="model_io_manager",
    pool="training",
    description="The same trainer, hyperparameters and seed as the baseline, on the baseline plus every new row of the epoch.",
)
def epoch_model(
    hokusai: HokusaiResource,
    baseline_training_set: pd.DataFrame,
    epoch_rows: pd.DataFrame,
    tuned_hyperparameters: dict,
) -> dg.MaterializeResult:
    settings = hokusai.load()
    training = settings.config.training
    frame = training_set(
        baseline_training_set, epoch_rows, settings.schema, settings.config.integration.max_samples, training.seed
    )
    hyperparameters = training_hyperparameters(training.hyperparameters, tuned_hyperparameters)
    model = get_trainer(training.framework, training.model, hyperparameters, training.seed).fit(frame, settings.schema)
    return dg.MaterializeResult(
        value=model, metadata={"model_digest": bytes_digest(model.to_bytes()), "training_rows": len(frame)}
    )


@dg.asset(
    partitions_def=reward_epochs,
    group_name=GROUP,
    kinds={"json"},
    io_manager_key="json_io_manager",
    pool="training",
    description="Shapley values of the epoch's content clusters (each coalition trained once), leave-one-out and harmful rows.",
)
def contribution_values(
    context: dg.AssetExecutionContext,
    hokusai: HokusaiResource,
    reward_epoch: dict,
    epoch_rows: pd.DataFrame,
    baseline_training_set: pd.DataFrame,
    benchmark_dataset: pd.DataFrame,
    tuned_hyperparameters: dict,
) -> dg.MaterializeResult:
    settings = hokusai.load()
    accounts = [MemberAccount.from_document(c) for c in reward_epoch["contributions"]]
    values = value_epoch(
        settings, epoch_rows, accounts, baseline_training_set, benchmark_dataset, progress=context.log.info,
        hyperparameters=training_hyperparameters(settings.config.training.hyperparameters, tuned_hyperparameters),
    )  # fmt: skip
    valuation = values["valuation"]
    return dg.MaterializeResult(
        value=values,
        metadata={
            "method": valuation["method"],
            "players": len(values["players"]),
            "fits": valuation["fits"],
            "trained_now": valuation["trained_now"],
            "efficiency_gap": valuation["efficiency_gap"],
            "u_all_minus_u_empty": valuation["u_all"] - valuation["u_empty"],
        },
    )


@dg.asset(
    partitions_def=reward_epochs,
    group_name=GROUP,
    kinds={"json"},
    io_manager_key="json_io_manager",
    description="rewards.pool in integers by largest remainder (caps applied), and the payout Merkle root.",
)
def payouts(hokusai: HokusaiResource, reward_epoch: dict, contribution_values: dict) -> dg.MaterializeResult:
    rewards = rewards_config(hokusai.load())
    members = [c["wallet"] for c in reward_epoch["contributions"]]
    allocation = allocate_players(
        contribution_values["players"],
        members,
        rewards.pool,
        wallet_cap=rewards.wallet_cap,
        epoch_cap=rewards.epoch_cap,
    )
    claims = allocation.claims()
    tree = PayoutTree.build(claims) if claims else None
    document = {**allocation.as_dict(), "root": tree.root if tree else None}
    return dg.MaterializeResult(
        value=document,
        metadata={
            "total": str(allocation.total),
            "wallets_paid": len(claims),
            "payout_root": document["root"] or "none",
        },
    )


@dg.asset(
    partitions_def=reward_epochs,
    group_name=GROUP,
    kinds={"json"},
    check_specs=[
        dg.AssetCheckSpec(
            "epoch_attestation_verified",
            asset="epoch_attestation",
            blocking=True,
            partitions_def=reward_epochs,
            description="The epoch verifier accepts what was written: signatures, values, amounts and the payout root.",
        )
    ],
    description=(
        "The epoch's in-toto statement, signed (DSSE and EIP-712), with its payout tree and report; "
        "published only once the verifier accepts the signed bytes."
    ),
)
def epoch_attestation(
    context: dg.AssetExecutionContext,
    hokusai: HokusaiResource,
    reward_epoch: dict,
    contribution_values: dict,
    payouts: dict,
    epoch_model: TrainedModel,
    baseline_model: TrainedModel,
    baseline_training_set: pd.DataFrame,
    benchmark_dataset: pd.DataFrame,
) -> dg.MaterializeResult:
    settings = hokusai.load()
    config = settings.config
    predicate = epoch_predicate_of(
        settings,
        reward_epoch,
        contribution_values,
        payouts,
        epoch_model,
        baseline_model,
        baseline_training_set,
        benchmark_dataset,
    )
    statement = epoch_statement(predicate)
    directory = settings.layout.epoch_dir(context.partition_key)
    keys = hokusai.attester_keys()
    digest, report = attest_epoch(
        directory, statement, contribution_values["harmful_rows"], keys, config.attestation.eip712.domain(),
        receipt={"dagster_run_id": context.run.run_id, "epoch": context.partition_key},
    )  # fmt: skip
    plot = base64.b64encode(values_plot_png(predicate)).decode("ascii")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(directory)),
            "statement_digest": digest,
            "payout_root": payouts["root"] or "none",
            "total": payouts["total"],
            # Dagster's markdown allows data: images, so the chart shows beside the table.
            "values": dg.MetadataValue.md(
                epoch_markdown(predicate)
                + f"\n![values](data:image/png;base64,{plot})\n\n#### Most harmful rows (KNN-Shapley)\n\n"
                + harmful_markdown(contribution_values["harmful_rows"])
            ),
            "plot": dg.MetadataValue.path(str(directory / PLOT_FILE)),
        },
        check_results=[verification_check("epoch_attestation_verified", report)],
    )


@dg.asset(
    partitions_def=reward_epochs,
    group_name=GROUP,
    kinds={"mlflow"},
    deps=[epoch_attestation],
    description=(
        "The epoch as an MLflow run: values and efficiency as metrics, amounts and the payout root as params, "
        "the epoch's files as artifacts."
    ),
)
def epoch_mlflow_run(
    context: dg.AssetExecutionContext, hokusai: HokusaiResource, contribution_values: dict, payouts: dict
) -> dg.MaterializeResult:
    settings = hokusai.load()
    if not settings.config.tracking.enabled:
        return dg.MaterializeResult(metadata={"enabled": False, "reason": "tracking.enabled is off"})
    from hokusai_assets.services.tracking.epochs import log_epoch_run  # imports MLflow: only here

    valuation = contribution_values["valuation"]
    metrics = {
        "u_empty": valuation["u_empty"],
        "u_all": valuation["u_all"],
        "efficiency_gap": valuation["efficiency_gap"],
        "fits": valuation["fits"],
        **{f"value.player_{p['player']}": p["value"] for p in contribution_values["players"]},
    }
    params = {
        "method": valuation["method"],
        "payout_root": payouts["root"] or "none",
        "total": payouts["total"],
        "pool": payouts["pool"],
        "config_digest": settings.config_digest,
        **{f"amount.{wallet}": amount for wallet, amount in payouts["amounts"].items()},
    }
    run = log_epoch_run(
        tracking_uri=settings.layout.tracking_uri(os.environ),
        experiment=settings.config.experiment_name,
        epoch=context.partition_key,
        dagster_run_id=context.run.run_id,
        params=params,
        metrics=metrics,
        directory=settings.layout.epoch_dir(context.partition_key),
    )
    return dg.MaterializeResult(metadata={"mlflow_run_id": run["run_id"], "experiment_id": run["experiment_id"]})
