"""Models: the hyperparameters (tuned once, or as configured), then the baseline and, per
contribution, the improved model, by the same trainer with the same hyperparameters."""

import dagster as dg
import pandas as pd

from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.evaluation.markdown import markdown_table
from hokusai_assets.lib.training.trainers import get_trainer
from hokusai_assets.lib.training.tuning import training_hyperparameters
from hokusai_assets.services.tuning import choose_hyperparameters
from hokusai_assets.settings.load import Settings


def _train(
    context: dg.AssetExecutionContext, settings: Settings, frame: pd.DataFrame, name: str, tuned: dict
) -> dg.MaterializeResult:
    training = settings.config.training
    # Torch checkpoints every epoch here, so a killed run resumes where it stopped.
    checkpoints = settings.layout.checkpoint_dir(name, context.partition_key if context.has_partition_key else None)
    trainer = get_trainer(
        training.framework,
        training.model,
        training_hyperparameters(training.hyperparameters, tuned),
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
            # Only with training.tuning, so an untuned model's metadata is as it was.
            **({"hyperparameters": dg.MetadataValue.json(tuned["hyperparameters"])} if tuned["tuning"] else {}),
        },
    )


# The framework is training.framework in hokusai.yaml: scikit-learn or PyTorch.
MODEL_KINDS = {"scikitlearn", "pytorch"}
# Training saturates a core: across all runs, the instance's pool limit (1 by default,
# dagster.yaml) says how many trainings run at once.
TRAINING_POOL = "training"


@dg.asset(
    group_name="reference",
    kinds={"optuna", "json"},
    io_manager_key="json_io_manager",
    pool=TRAINING_POOL,  # k folds x N trials of fits
    description=(
        "The hyperparameters every model is trained with: training.hyperparameters, and with training.tuning "
        "the choice of one seeded Optuna study (k-fold CV on the baseline training set), made once."
    ),
)
def tuned_hyperparameters(
    context: dg.AssetExecutionContext, hokusai: HokusaiResource, baseline_training_set: pd.DataFrame
) -> dg.MaterializeResult:
    document = choose_hyperparameters(hokusai.load(), baseline_training_set, progress=context.log.info)
    tuning = document["tuning"]
    metadata: dict = {
        "tuned": tuning is not None,
        "hyperparameters": dg.MetadataValue.json(document["hyperparameters"]),
    }
    if tuning is not None:
        trials = [
            [t["number"], *(repr(t["params"][name]) for name in tuning["search_space"]), f"{t['cv_score']:.6g}"]
            for t in tuning["trial_log"]
        ]
        metadata |= {
            "study_digest": tuning["study_digest"],
            f"cv/{tuning['metric']}_mean": tuning["cv_mean"],
            f"cv/{tuning['metric']}_sd": tuning["cv_sd"],
            "best_trial": tuning["best_trial"],
            "trials": dg.MetadataValue.md(
                markdown_table(["trial", *tuning["search_space"], f"CV {tuning['metric']}"], trials)
            ),
        }
    return dg.MaterializeResult(value=document, metadata=metadata)


@dg.asset(
    group_name="reference",
    kinds=MODEL_KINDS,
    io_manager_key="model_io_manager",
    pool=TRAINING_POOL,
    description="The model trained on the baseline training set alone: what every contribution is measured against.",
)
def baseline_model(
    context: dg.AssetExecutionContext,
    hokusai: HokusaiResource,
    baseline_training_set: pd.DataFrame,
    tuned_hyperparameters: dict,
) -> dg.MaterializeResult:
    return _train(context, hokusai.load(), baseline_training_set, "baseline_model", tuned_hyperparameters)


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds=MODEL_KINDS,
    io_manager_key="model_io_manager",
    pool=TRAINING_POOL,
    description="The same trainer, hyperparameters and seed as the baseline, on the integrated training set.",
)
def improved_model(
    context: dg.AssetExecutionContext,
    hokusai: HokusaiResource,
    integrated_training_set: pd.DataFrame,
    tuned_hyperparameters: dict,
) -> dg.MaterializeResult:
    return _train(context, hokusai.load(), integrated_training_set, "improved_model", tuned_hyperparameters)
