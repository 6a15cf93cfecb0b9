"""Training: one trainer protocol, the same trainer for the baseline and the improved model.

Determinism is part of the contract: the rows arrive in canonical order (see
``integrate.canonical_order``), the seed goes into every estimator that takes one, and
BLAS runs on one thread while fitting so that summation order, and so every bit of the
weights, does not depend on the machine's core count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.evaluation.metrics import Predictions
from hokusai_assets.lib.task import TaskSchema

# name -> (task type, estimator factory path, defaults). Only estimators whose fitted state
# is plain arrays, so that model files stay pickle-free (see modelio).
SKLEARN_MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "logistic_regression": ("classification", "sklearn.linear_model:LogisticRegression", {"max_iter": 2000}),
    "ridge": ("regression", "sklearn.linear_model:Ridge", {}),
    "linear_regression": ("regression", "sklearn.linear_model:LinearRegression", {}),
}


@dataclass
class TrainedModel:
    """A fitted model and what it needs to be used and described."""

    framework: str
    task_type: str
    feature_names: list[str]
    label: str
    label_type: str
    estimator: Any

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise ModelError(f"the model needs feature column(s) {', '.join(missing)}", code="E_MODEL_FEATURES")
        return frame[self.feature_names].astype("float64")

    def predict(self, frame: pd.DataFrame) -> Predictions:
        """Predictions on labelled rows, ready for the metrics."""
        X = self.features(frame)
        y_true = frame[self.label].to_numpy()
        y_pred = np.asarray(self.estimator.predict(X))
        if self.task_type == "classification":
            return Predictions(
                y_true=y_true,
                y_pred=y_pred,
                proba=np.asarray(self.estimator.predict_proba(X), dtype="float64"),
                classes=np.asarray(self.estimator.classes_),
            )
        return Predictions(y_true=y_true.astype("float64"), y_pred=y_pred.astype("float64"))

    def to_bytes(self) -> bytes:
        from hokusai_assets.lib.training.sklearn_files import dump_sklearn

        if self.framework == "torch":
            from hokusai_assets.lib.training.torch_mlp import dump_torch

            return dump_torch(self)
        if self.framework != "sklearn":
            raise ModelError(f"no serialiser for framework {self.framework!r}", code="E_MODEL_UNSUPPORTED")
        return dump_sklearn(
            self.estimator,
            task_type=self.task_type,
            feature_names=self.feature_names,
            label=self.label,
            label_type=self.label_type,
        )


def model_from_bytes(data: bytes) -> TrainedModel:
    """Rebuild a model from a model file, without executing anything from it."""
    from hokusai_assets.lib.training.sklearn_files import load_sklearn, read_model_file

    description, tensors = read_model_file(data)
    if description.get("framework") == "torch":
        from hokusai_assets.lib.training.torch_mlp import load_torch

        estimator = load_torch(description, tensors)
        return TrainedModel(
            framework="torch",
            task_type=description["task_type"],
            feature_names=list(description["feature_names"]),
            label=description["label"],
            label_type=description["label_type"],
            estimator=estimator,
        )
    if description.get("framework") != "sklearn":
        raise ModelError(f"unsupported model framework {description.get('framework')!r}", code="E_MODEL_FORMAT")
    return TrainedModel(
        framework="sklearn",
        task_type=description["task_type"],
        feature_names=list(description["feature_names"]),
        label=description["label"],
        label_type=description["label_type"],
        estimator=load_sklearn(description, tensors),
    )


class Trainer(Protocol):
    """What both frameworks provide: fit rows of the task schema into a TrainedModel."""

    def fit(self, frame: pd.DataFrame, schema: TaskSchema) -> TrainedModel: ...


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
        return TrainedModel(
            framework="sklearn",
            task_type=schema.task_type,
            feature_names=schema.feature_names,
            label=schema.label,
            label_type=schema.label_type,
            estimator=estimator,
        )


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
        from hokusai_assets.lib.training.torch_mlp import TorchTrainer

        return TorchTrainer(
            model=model,
            hyperparameters=dict(hyperparameters),
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
        )
    raise ModelError(
        f"training.framework {framework!r} is not available; use 'sklearn' or 'torch'",
        code="E_MODEL_FRAMEWORK",
    )
