"""The attestation: a deterministic, signed statement of what the contribution did, and its receipt."""

import dagster as dg
import pandas as pd

from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.attestation.statement import build_statement, code_version
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.training.model import TrainedModel
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
) -> dg.MaterializeResult:
    settings = hokusai.load()
    columns = settings.schema.columns
    contributor = contributed_dataset["contributor"]
    # Digests are re-derived from the data and models themselves, not copied from
    # upstream metadata: the statement commits to what was actually used.
    statement = build_statement(
        task={
            "name": settings.config.task.name,
            "type": settings.config.task.type,
            "label": settings.schema.label,
            # The committed columns, in order: what a verifier needs to recompute a data root.
            "columns": columns,
        },
        contribution={
            "partition": context.partition_key,
            "wallet": contributor["wallet"],
            "contributor_id": contributor["contributor_id"],
            "license": contributor["license"],
            "file_digest": contributed_dataset["file_digest"],
            "format": contributed_dataset["format"],
            "data_root": data_root(validated_contribution, columns),
            "rows": len(validated_contribution),
            # The drift numbers' digest (not the HTML's, which embeds random ids); null when off.
            "drift_digest": drift_report.get("digest"),
        },
        baseline={
            "model_digest": bytes_digest(baseline_model.to_bytes()),
            "training_data_root": data_root(baseline_training_set, columns),
            "training_rows": len(baseline_training_set),
        },
        improved={
            "model_digest": bytes_digest(improved_model.to_bytes()),
            "training_data_root": data_root(integrated_training_set, columns),
            "training_rows": len(integrated_training_set),
            "integration_strategy": settings.config.integration.strategy,
        },
        benchmark={"data_root": data_root(benchmark_dataset, columns), "rows": len(benchmark_dataset)},
        evaluation=delta_result,
        config_digest=settings.config_digest,
        code=code_version(),
        seed=settings.config.training.seed,
    )
    files = settings.layout.attestation(context.partition_key)
    keys = hokusai.attester_keys()
    digest = write_attestation(
        files,
        statement,
        receipt={"dagster_run_id": context.run.run_id, "partition": context.partition_key},
        keys=keys,
        domain=settings.config.attestation.eip712.domain(),
    )
    # Verify what is on disk, as a third party would, before anyone relies on it.
    report = verify_files(files, trusted=keys.public_info(settings.config.attestation.eip712.domain()))
    failure = report.first_failure
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(files.envelope)),
            "statement_digest": digest,
            "attester": keys.attester_address,
            "delta_one_bps": delta_result["delta_one_bps"],
            "accepted": delta_result["accepted"],
            "wallet": contributor["wallet"],
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="attestation_verified",
                passed=report.ok,
                description="all checks passed" if report.ok else f"{failure.name}: {failure.detail}",
                metadata={check.name: check.ok for check in report.checks},
            )
        ],
    )
