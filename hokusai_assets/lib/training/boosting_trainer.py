"""The gradient-boosting trainers: XGBoost and LightGBM through their scikit-learn estimators.

``training.framework: xgboost`` fits ``XGBClassifier`` / ``XGBRegressor``,
``training.framework: lightgbm`` fits ``LGBMClassifier`` / ``LGBMRegressor``; which of the
two follows ``task.type``. Each framework has one model, gradient-boosted trees, so
``training.model`` is the framework's name (``xgboost``, ``lightgbm``); ``gradient_boosting``
is accepted as well, since that is what the old ``model_type`` class names map to (see
``aliases.py``) and it says the same thing. The model name is not stored in the model
file, so both spellings give the same bytes.

``training.hyperparameters`` are the estimator's own constructor parameters
(``n_estimators``, ``max_depth``, ``learning_rate``, ``num_leaves``, ...). Those that decide
whether the same seed gives the same bytes, or what ``predict_proba`` means, are hokusai's:

* one thread (``n_jobs=1``): the order in which gradient and histogram sums are added,
  and so every split and leaf value, does not depend on the machine's core count;
* ``random_state=seed`` for row and column subsampling;
* LightGBM: ``deterministic=True`` and ``force_row_wise=True`` (no timing-based choice of
  the histogram layout), ``verbose=-1``;
* XGBoost: ``device="cpu"``, the ``gbtree`` booster and NaN as the missing value, which
  is what the loaded predictor assumes;
* the objective: logistic (binary), softmax probabilities (multiclass) or squared error,
  so ``predict_proba`` is a probability and the model file can say which to expect.

The labels are encoded as class indices here (XGBoost accepts nothing else) and the
classes go into the model file.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.boosting_files import FAMILIES, BoostedModel, family
from hokusai_assets.lib.training.features import training_matrix
from hokusai_assets.lib.training.labels import class_indices
from hokusai_assets.lib.training.model import TrainedModel

MODEL_NAMES = {"xgboost": ("xgboost", "gradient_boosting"), "lightgbm": ("lightgbm", "gradient_boosting")}

# Set by hokusai (see the module docstring); a value in training.hyperparameters is an error.
_RESERVED = {
    "xgboost": ("n_jobs", "nthread", "random_state", "seed", "device", "booster", "missing", "objective"),
    "lightgbm": (
        "n_jobs", "num_threads", "random_state", "seed", "deterministic", "force_row_wise", "force_col_wise",
        "objective", "verbose", "verbosity",
    ),
}


def _fixed_params(framework: str, seed: int) -> dict[str, Any]:
    if framework == "xgboost":
        return {"n_jobs": 1, "random_state": seed, "device": "cpu", "booster": "gbtree"}
    return {"n_jobs": 1, "random_state": seed, "deterministic": True, "force_row_wise": True, "verbose": -1}


@dataclass(frozen=True)
class BoostingTrainer:
    framework: str  # "xgboost" or "lightgbm"
    model: str
    hyperparameters: Mapping[str, Any]
    seed: int

    def __post_init__(self) -> None:
        family(self.framework)
        names = MODEL_NAMES[self.framework]
        if self.model not in names:
            raise ModelError(
                f"unknown training.model {self.model!r} for framework {self.framework}; write "
                f"training.model: {names[0]} (or {', '.join(names[1:])}); it fits "
                f"{' or '.join(FAMILIES[self.framework].estimators.values())} by task.type",
                code="E_MODEL_UNKNOWN",
            )
        reserved = sorted(set(self.hyperparameters) & set(_RESERVED[self.framework]))
        if reserved:
            raise ModelError(
                f"training.hyperparameters: {', '.join(reserved)} {'is' if len(reserved) == 1 else 'are'} set by "
                f"hokusai for {self.framework} (one thread, the training seed, the task's objective) so that the "
                f"same seed gives the same model file; remove {'it' if len(reserved) == 1 else 'them'}",
                code="E_MODEL_HYPERPARAMETER",
            )

    def _estimator(self, task_type: str, objective: str) -> tuple[Any, dict[str, Any]]:
        module, name = FAMILIES[self.framework].estimators[task_type].split(".")
        cls = getattr(importlib.import_module(module), name)
        valid = cls().get_params()
        unknown = sorted(set(self.hyperparameters) - set(valid))
        if unknown:
            raise ModelError(
                f"training.hyperparameters: {', '.join(unknown)} not accepted by {name}; "
                f"valid: {', '.join(sorted(set(valid) - set(_RESERVED[self.framework])))}",
                code="E_MODEL_HYPERPARAMETER",
            )
        params = {**self.hyperparameters, **_fixed_params(self.framework, self.seed), "objective": objective}
        return cls(**params), params

    def fit(self, frame: pd.DataFrame, schema: TaskSchema) -> TrainedModel:
        if frame.empty:
            raise ModelError("cannot train on an empty training set", code="E_MODEL_NO_ROWS")
        encoder, features = training_matrix(frame, schema)
        X = np.ascontiguousarray(features.to_numpy())
        if np.isinf(X).any():
            # NaN is a missing value to both libraries; infinity is not a value they split on.
            raise ModelError("the training set has infinite feature values", code="E_MODEL_NONFINITE")
        labels = frame[schema.label]
        if labels.isna().any():
            raise ModelError("the training set has rows without a label", code="E_MODEL_NONFINITE")
        classes: list[Any] | None = None
        if schema.task_type == "classification":
            y, classes = class_indices(labels, schema.label_type)
        else:
            y = labels.astype("float64").to_numpy()
            if not np.all(np.isfinite(y)):
                raise ModelError("the training set has infinite label values", code="E_MODEL_NONFINITE")
        objective = FAMILIES[self.framework].objective(schema.task_type, len(classes) if classes else 0)
        estimator, params = self._estimator(schema.task_type, objective)
        # XGBoostError is a ValueError; LightGBMError is its own class.
        rejected: tuple[type[Exception], ...] = (ValueError, TypeError)
        if self.framework == "lightgbm":
            rejected += (importlib.import_module("lightgbm").basic.LightGBMError,)
        try:
            estimator.fit(X, y)
        except rejected as exc:
            raise ModelError(
                f"{type(estimator).__name__} rejected training.hyperparameters: {str(exc).splitlines()[0][:300]}",
                code="E_MODEL_HYPERPARAMETER",
            ) from exc
        predictor = BoostedModel.from_wrapper(self.framework, schema.task_type, estimator, classes, params)
        return TrainedModel.fitted(self.framework, schema, predictor, encoder)
