"""Models: the baseline and, per contribution, the improved model, by the same trainer."""


import dagster as dg
import pandas as pd

from hokusai_assets.config import Settings
from hokusai_assets.defs.partitions import contributions
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.commit import bytes_digest
from hokusai_assets.lib.train import get_trainer


def _train(settings: Settings, frame: pd.DataFrame) -> dg.MaterializeResult:
    training = settings.config.training
    trainer = get_trainer(training.framework, training.model, training.hyperparameters, training.seed)
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


@dg.asset(
    group_name="reference",
    kinds={"scikitlearn"},
    io_manager_key="model_io_manager",
    description="The model trained on the baseline training set alone: what every contribution is measured against.",
)
def baseline_model(hokusai: HokusaiResource, baseline_training_set: pd.DataFrame) -> dg.MaterializeResult:
    return _train(hokusai.load(), baseline_training_set)


@dg.asset(
    partitions_def=contributions,
    group_name="contribution",
    kinds={"scikitlearn"},
    io_manager_key="model_io_manager",
    description="The same trainer, hyperparameters and seed as the baseline, on the integrated training set.",
)
def improved_model(hokusai: HokusaiResource, integrated_training_set: pd.DataFrame) -> dg.MaterializeResult:
    return _train(hokusai.load(), integrated_training_set)
