"""Class labels for the trainers that take class indices (XGBoost, LightGBM, the torch MLP):
one rule for what a label is, so that every framework's model file names its classes alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import ModelError


def class_indices(labels: pd.Series, label_type: str) -> tuple[np.ndarray, list[Any]]:
    """(class index per row, sorted classes), the classes as JSON-able Python values."""
    values = labels.tolist()
    if label_type == "str":
        values = [str(v) for v in values]
    elif label_type == "int":
        # 1.0 from a float column is the class 1: classes_ and the model file say 1, as for int columns.
        if not all(float(v).is_integer() for v in values):
            raise ModelError("task.label_type is int but some labels are fractional", code="E_MODEL_LABELS")
        values = [int(v) for v in values]
    try:
        classes = sorted(set(values))
    except TypeError:
        raise ModelError("class labels mix types; declare task.label_type", code="E_MODEL_LABELS") from None
    if len(classes) < 2:
        raise ModelError(
            "the training set has a single class; classification needs at least two", code="E_MODEL_ONE_CLASS"
        )
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[v] for v in values], dtype=np.int64), classes


def classes_array(classes: Sequence[Any] | None) -> np.ndarray:
    """``classes_`` as scikit-learn gives it: an object array for strings."""
    if classes is None:
        raise AttributeError("a regression model has no classes_")
    if all(isinstance(c, str) for c in classes):
        return np.array(classes, dtype=object)
    return np.array(classes)
