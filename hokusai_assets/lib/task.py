"""The task: what a model reads and predicts, and the one order its rows are kept in.

Every other part of the domain (intake, training, evaluation, commitments) speaks in
terms of a :class:`TaskSchema`, built from the ``task`` section of hokusai.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

FeatureType = Literal["int", "float", "bool"]
LabelType = Literal["int", "str", "float"]
TaskType = Literal["classification", "regression"]


@dataclass(frozen=True)
class TaskSchema:
    """What the model reads and predicts: the columns every committed row has."""

    task_type: TaskType
    label: str
    label_type: LabelType
    features: tuple[tuple[str, FeatureType], ...]
    id_column: str | None = None

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in self.features]

    @property
    def columns(self) -> list[str]:
        """Committed columns, in a fixed order: id (if any), features, label."""
        head = [self.id_column] if self.id_column else []
        return head + self.feature_names + [self.label]


def canonical_order(frame: pd.DataFrame, schema: TaskSchema) -> pd.DataFrame:
    """Sort rows by label, then features, then id: a total order on distinct rows.

    Tables are kept in this order wherever a model is trained on them, so what is trained
    (and so every bit of the model) does not depend on the order in which rows arrived.
    """
    return frame.iloc[canonical_permutation(frame, schema)].reset_index(drop=True)


def canonical_permutation(frame: pd.DataFrame, schema: TaskSchema) -> np.ndarray:
    """The positions of ``frame``'s rows in canonical order (a stable sort, so equal rows keep
    their order): a subset of rows taken in this order is that subset's canonical order."""
    keys = [schema.label, *schema.feature_names] + ([schema.id_column] if schema.id_column else [])
    return frame.reset_index(drop=True).sort_values(keys, kind="mergesort").index.to_numpy()
