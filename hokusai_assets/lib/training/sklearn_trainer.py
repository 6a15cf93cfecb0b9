"""The scikit-learn trainer: linear models behind a standard scaler, seeded and single-threaded.

Determinism is part of the contract: the rows arrive in canonical order (see
``lib.task.canonical_order``), the seed goes into every estimator that takes one, and
BLAS runs on one thread while fitting so that summation order, and so every bit of the
weights, does not depend on the machine's core count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.model import TrainedModel

# name -> (task type, estimator factory path, defaults). Only estimators whose fitted state
# is plain arrays, so that model files stay pickle-free (see sklearn_files).
SKLEARN_MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "logistic_regression": ("classification", "sklearn.linear_model:LogisticRegression", {"max_iter": 2000}),
    "ridge": ("regression", "sklearn.linear_model:Ridge", {}),
    "linear_regression": ("regression", "sklearn.linear_model:LinearRegression", {}),
}


@dataclass(frozen=True)
class SklearnTrainer:
    model: str
    hyperparameters: Mapping[str, Any]
    seed: int

    def _estimator(self, schema: TaskSchema) -> Any:
        import importlib

        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        try:
            task_type, target, defaults = SKLEARN_MODELS[self.model]
        except KeyError:
            raise ModelError(
                f"unknown training.model {self.model!r}; choose one of {', '.join(SKLEARN_MODELS)}",
                code="E_MODEL_UNKNOWN",
            ) from None
        if task_type != schema.task_type:
            raise ModelError(
                f"training.model {self.model!r} is for {task_type}, but the task is {schema.task_type}",
                code="E_MODEL_TASK_MISMATCH",
            )
        module, name = target.split(":")
        cls = getattr(importlib.import_module(module), name)
        params = {**defaults, **self.hyperparameters}
        valid = cls().get_params()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ModelError(
                f"training.hyperparameters: {', '.join(unknown)} not accepted by {name}; "
                f"valid: {', '.join(sorted(valid))}",
                code="E_MODEL_HYPERPARAMETER",
            )
        if "random_state" in valid:
            params["random_state"] = self.seed
        return Pipeline([("scale", StandardScaler()), ("model", cls(**params))])

    def fit(self, frame: pd.DataFrame, schema: TaskSchema) -> TrainedModel:
        from threadpoolctl import threadpool_limits

        if frame.empty:
            raise ModelError("cannot train on an empty training set", code="E_MODEL_NO_ROWS")
        if schema.task_type == "classification" and frame[schema.label].nunique() < 2:
            raise ModelError(
                "the training set has a single class; classification needs at least two",
                code="E_MODEL_ONE_CLASS",
            )
        estimator = self._estimator(schema)
        X = frame[schema.feature_names].astype("float64")
        y = frame[schema.label].to_numpy()
        with threadpool_limits(limits=1):
            estimator.fit(X, y)
        return TrainedModel.fitted("sklearn", schema, estimator)
