"""A model's answers for request rows, as JSON values: the label and class probabilities for
classification, the value for regression."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.training.model import TrainedModel


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def score_rows(model: TrainedModel, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    frame = pd.DataFrame(list(rows), columns=model.feature_names)
    X = model.features(frame)
    if model.task_type == "regression":
        return [{"value": float(v)} for v in np.asarray(model.estimator.predict(X), dtype="float64")]
    labels = np.asarray(model.estimator.predict(X))
    classes = [str(_plain(c)) for c in np.asarray(model.estimator.classes_)]
    probabilities = np.asarray(model.estimator.predict_proba(X), dtype="float64")
    return [
        {"label": _plain(label), "probabilities": dict(zip(classes, map(float, row), strict=True))}
        for label, row in zip(labels, probabilities, strict=True)
    ]
