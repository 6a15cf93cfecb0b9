"""Models: the baseline and, per contribution, the improved model, by the same trainer."""

import dagster as dg
import pandas as pd

from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.training.trainers import get_trainer
from hokusai_assets.settings.load import Settings


def _train(
    context: dg.AssetExecutionContext, settings: Settings, frame: pd.DataFrame, name: str
) -> dg.MaterializeResult:
    training = settings.config.training
    # Torch checkpoints every epoch here, so a killed run resumes where it stopped.
    checkpoints = settings.layout.checkpoint_dir(name, context.partition_key if context.has_partition_key else None)
    trainer = get_trainer(
        training.framework,
        training.model,
        training.hyperparameters,
        training.seed,
        checkpoint_dir=checkpoints,
        progress=context.log.info,
    )
    model = trainer.fit(frame, settings.schema)
    payload = model.to_bytes()
    return dg.MaterializeResult(
        value=model,
        metadata={
            "model_digest": bytes_digest(payload),
            "framework": training.framework,
            "model": training.model,
            "seed": training.seed,
            "training_rows": len(frame),
        },
    )


# The framework is training.framework in hokusai.yaml: scikit-learn or PyTorch.
MODEL_KINDS = {"scikitlearn", "pytorch"}
# Training saturates a core: across all runs, the instance's pool limit (1 by default,
# dagster.yaml) says how many trainings run at once.
TRAINING_POOL = "training"


@dg.asset(
    group_name="reference",
    kinds=MODEL_KINDS,
    io_manager_key="model_io_manager",
    pool=TRAINING_POOL,
    description="The model trained on the baseline training set alone: what every contribution is measured against.",
)
def baseline_model(
    context: dg.AssetExecutionContext, hokusai: HokusaiResource, baseline_training_set: pd.DataFrame
) -> dg.MaterializeResult:
    return _train(context, hokusai.load(), baseline_training_set, "baseline_model")


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds=MODEL_KINDS,
    io_manager_key="model_io_manager",
    pool=TRAINING_POOL,
    description="The same trainer, hyperparameters and seed as the baseline, on the integrated training set.",
)
def improved_model(
    context: dg.AssetExecutionContext, hokusai: HokusaiResource, integrated_training_set: pd.DataFrame
) -> dg.MaterializeResult:
    return _train(context, hokusai.load(), integrated_training_set, "improved_model")
