"""The attestation: a deterministic, signed statement of what the contribution did, and its receipt."""

import dagster as dg
import pandas as pd

from hokusai_assets.defs.checks import verification_check
from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.attestation.statement import attest_contribution
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.training.model import TrainedModel
from hokusai_assets.lib.training.tuning import attested_section
from hokusai_assets.services.attestations import verify_files, write_attestation


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"json"},
    check_specs=[
        dg.AssetCheckSpec(
            "attestation_verified",
            asset="attestation",
            blocking=True,
            partitions_def=contributions,
            description="The independent verifier accepts what was just written: both signatures, the digests and the arithmetic.",
        )
    ],
    description=(
        "An in-toto Statement v1 (RFC 8785 bytes) binding the improved model and the contribution's "
        "data root to the measured delta and the contributor's wallet."
    ),
)
def attestation(
    context: dg.AssetExecutionContext,
    hokusai: HokusaiResource,
    contributed_dataset: dict,
    validated_contribution: pd.DataFrame,
    integrated_training_set: pd.DataFrame,
    baseline_training_set: pd.DataFrame,
    benchmark_dataset: pd.DataFrame,
    baseline_model: TrainedModel,
    improved_model: TrainedModel,
    delta_result: dict,
    drift_report: dict,
    tuned_hyperparameters: dict,
) -> dg.MaterializeResult:
    settings = hokusai.load()
    contributor = Contributor(**contributed_dataset["contributor"])
    predicate = attest_contribution(
        task_name=settings.config.task.name,
        schema=settings.schema,
        partition=context.partition_key,
        contributor=contributor,
        file_digest=contributed_dataset["file_digest"],
        file_format=contributed_dataset["format"],
        contribution=validated_contribution,
        drift_digest=drift_report.get("digest"),  # null when drift reports are off
        baseline_model=baseline_model,
        baseline_rows=baseline_training_set,
        improved_model=improved_model,
        improved_rows=integrated_training_set,
        integration_strategy=settings.config.integration.strategy,
        benchmark=benchmark_dataset,
        delta=delta_result,
        config_digest=settings.config_digest,
        seed=settings.config.training.seed,
        tuning=attested_section(tuned_hyperparameters),
    )
    files = settings.layout.attestation(context.partition_key)
    keys = hokusai.attester_keys()
    domain = settings.config.attestation.eip712.domain()
    digest = write_attestation(
        files,
        predicate.statement(),
        receipt={"dagster_run_id": context.run.run_id, "partition": context.partition_key},
        keys=keys,
        domain=domain,
    )
    # Verify what is on disk, as a third party would, before anyone relies on it.
    report = verify_files(files, trusted=keys.public_info(domain))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(files.envelope)),
            "statement_digest": digest,
            "attester": keys.attester_address,
            "delta_one_bps": delta_result["delta_one_bps"],
            "accepted": delta_result["accepted"],
            "wallet": contributor.wallet,
        },
        check_results=[verification_check("attestation_verified", report)],
    )
