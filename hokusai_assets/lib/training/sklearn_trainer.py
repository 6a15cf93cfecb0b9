"""The scikit-learn trainer: linear models behind a standard scaler, and tree ensembles; seeded
and single-threaded.

Determinism is part of the contract: the rows arrive in canonical order (see
``lib.task.canonical_order``), the seed goes into every estimator that takes one, and
BLAS and OpenMP run on one thread while fitting so that summation order, and so every bit
of the weights, does not depend on the machine's core count. Tree ensembles with ``n_jobs`` get
one job: a forest with more sums its trees' votes in the order threads finish, which can
change the last bit of a probability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.features import training_matrix
from hokusai_assets.lib.training.model import TrainedModel

# name -> {"estimators": factory path per task type, "defaults": hyperparameters}. Only
# estimators whose fitted state sklearn_files can store without pickle. A linear name serves
# one task type; a tree family both, the task type picking the classifier or the regressor.
SKLEARN_MODELS: dict[str, dict[str, dict[str, Any]]] = {
    "logistic_regression": {
        "estimators": {"classification": "sklearn.linear_model:LogisticRegression"},
        "defaults": {"max_iter": 2000},
    },
    "ridge": {"estimators": {"regression": "sklearn.linear_model:Ridge"}, "defaults": {}},
    "linear_regression": {"estimators": {"regression": "sklearn.linear_model:LinearRegression"}, "defaults": {}},
    # The old pipeline's default: 100 trees, at most 10 deep.
    "random_forest": {
        "estimators": {
            "classification": "sklearn.ensemble:RandomForestClassifier",
            "regression": "sklearn.ensemble:RandomForestRegressor",
        },
        "defaults": {"n_estimators": 100, "max_depth": 10},
    },
    "extra_trees": {
        "estimators": {
            "classification": "sklearn.ensemble:ExtraTreesClassifier",
            "regression": "sklearn.ensemble:ExtraTreesRegressor",
        },
        "defaults": {"n_estimators": 100, "max_depth": 10},
    },
    "gradient_boosting": {
        "estimators": {
            "classification": "sklearn.ensemble:GradientBoostingClassifier",
            "regression": "sklearn.ensemble:GradientBoostingRegressor",
        },
        "defaults": {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1},
    },
    # early_stopping off: scikit-learn's "auto" turns it on above 10,000 rows and then holds
    # out a validation split, so a baseline and an improved model of different sizes would
    # be trained differently.
    "hist_gradient_boosting": {
        "estimators": {
            "classification": "sklearn.ensemble:HistGradientBoostingClassifier",
            "regression": "sklearn.ensemble:HistGradientBoostingRegressor",
        },
        "defaults": {"max_iter": 100, "max_leaf_nodes": 31, "learning_rate": 0.1, "early_stopping": False},
    },
}

# Trees split on thresholds, which a per-feature rescaling only moves: a scaler would add a
# step and put the thresholds in standardised units. Tree families get none; the Pipeline
# keeps its shape with the one "model" step.
_TREE_FAMILIES = frozenset({"random_forest", "extra_trees", "gradient_boosting", "hist_gradient_boosting"})


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
            entry = SKLEARN_MODELS[self.model]
        except KeyError:
            raise ModelError(
                f"unknown training.model {self.model!r}; choose one of {', '.join(SKLEARN_MODELS)}",
                code="E_MODEL_UNKNOWN",
            ) from None
        targets, defaults = entry["estimators"], entry["defaults"]
        if schema.task_type not in targets:
            raise ModelError(
                f"training.model {self.model!r} is for {' or '.join(targets)}, but the task is {schema.task_type}",
                code="E_MODEL_TASK_MISMATCH",
            )
        module, name = targets[schema.task_type].split(":")
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
        if params.get("categorical_features", None) not in (None, "from_dtype"):
            # Features arrive as float64, so "from_dtype" finds none; naming some would train
            # categorical splits, which a model file cannot hold (refused here, not after fitting).
            raise ModelError(
                "training.hyperparameters: categorical_features is not supported; model files hold numeric splits only",
                code="E_MODEL_HYPERPARAMETER",
            )
        if "random_state" in valid:
            params["random_state"] = self.seed
        if self.model in _TREE_FAMILIES:
            # Only trees: the linear models' n_jobs is unused (LogisticRegression warns about it
            # since 1.8), and setting it would change their existing model files' bytes.
            if "n_jobs" in valid:
                params["n_jobs"] = 1
            return Pipeline([("model", cls(**params))])
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
        # Categories and text are encoded first: a linear model's scaler then standardises
        # the encoded columns, as it does plain numbers.
        encoder, X = training_matrix(frame, schema)
        y = frame[schema.label].to_numpy()
        with threadpool_limits(limits=1):
            estimator.fit(X, y)
        return TrainedModel.fitted("sklearn", schema, estimator, encoder)
