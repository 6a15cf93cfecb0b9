"""Training: one trainer protocol, the same trainer for the baseline and the improved model.

``training.framework`` picks the trainer (``sklearn_trainer``, ``torch_mlp``,
``boosting_trainer`` for ``xgboost`` and ``lightgbm``); each fits rows
of the task schema into a :class:`~hokusai_assets.lib.training.model.TrainedModel`, and the
same rows, hyperparameters and seed always give the same model file bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.model import TrainedModel
from hokusai_assets.lib.training.sklearn_trainer import SklearnTrainer


class Trainer(Protocol):
    """What every framework provides: fit rows of the task schema into a TrainedModel."""

    def fit(self, frame: pd.DataFrame, schema: TaskSchema) -> TrainedModel: ...


def get_trainer(
    framework: str,
    model: str,
    hyperparameters: Mapping[str, Any],
    seed: int,
    *,
    checkpoint_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Trainer:
    """The trainer for ``training.framework``; ``checkpoint_dir`` and ``progress`` serve torch."""
    if framework == "sklearn":
        return SklearnTrainer(model=model, hyperparameters=dict(hyperparameters), seed=seed)
    if framework == "torch":
        # Imported here: the torch trainer imports torch (about 1 s) when it fits.
        from hokusai_assets.lib.training.torch_trainer import TorchTrainer

        return TorchTrainer(
            model=model,
            hyperparameters=dict(hyperparameters),
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
        )
    if framework in ("xgboost", "lightgbm"):
        # Imported here like torch: the module itself is light, xgboost/lightgbm load when it fits.
        from hokusai_assets.lib.training.boosting_trainer import BoostingTrainer

        return BoostingTrainer(framework=framework, model=model, hyperparameters=dict(hyperparameters), seed=seed)
    raise ModelError(
        f"training.framework {framework!r} is not available; use 'sklearn', 'torch', 'xgboost' or 'lightgbm'",
        code="E_MODEL_FRAMEWORK",
    )
