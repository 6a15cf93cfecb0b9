"""A model's answers for request rows, as JSON values: the label and class probabilities for
classification, the value for regression."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.serving.errors import ServingError
from hokusai_assets.lib.training.model import TrainedModel


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _final_step(estimator: Any, X: pd.DataFrame) -> tuple[Any, Any]:
    """A scikit-learn Pipeline's last step and its input, so that predict and predict_proba
    share one pass through the transforms (Pipeline.predict does exactly this, once each)."""
    steps = getattr(estimator, "steps", None)
    if not steps:
        return estimator, X
    return estimator[-1], estimator[:-1].transform(X)


def score_rows(model: TrainedModel, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    import sklearn

    names = model.feature_names
    missing = [name for name in names if name not in rows[0]] if rows else []
    if missing:  # a version trained on other features than the task's today
        raise ServingError(
            f"this version reads feature(s) the task no longer has: {', '.join(missing)}; serve a newer version",
            code="E_SERVE_MODEL_FEATURES",
            status=409,
        )
    if model.encoder is not None:
        # Categories, texts or imputation: the model's own encoder reads the rows (an unseen
        # category is all zeros, a missing value its declared imputation).
        X = model.features(pd.DataFrame([[row[name] for name in names] for row in rows], columns=names, dtype=object))
    else:
        # Straight to float64 in feature order (what model.features gives), without a frame of dicts.
        X = pd.DataFrame(np.array([[row[name] for name in names] for row in rows], dtype="float64"), columns=names)
    # Rows are checked finite when the request is parsed; sklearn need not scan them again.
    with sklearn.config_context(assume_finite=True):
        if model.task_type == "regression":
            return [{"value": float(v)} for v in np.asarray(model.estimator.predict(X), dtype="float64")]
        final, Xt = _final_step(model.estimator, X)
        labels = np.asarray(final.predict(Xt))
        probabilities = np.asarray(final.predict_proba(Xt), dtype="float64")
    classes = [str(_plain(c)) for c in np.asarray(model.estimator.classes_)]
    return [
        {"label": _plain(label), "probabilities": dict(zip(classes, row, strict=True))}
        for label, row in zip(labels, probabilities.tolist(), strict=True)
    ]
