"""The task: what a model reads and predicts, and the one order its rows are kept in.

Every other part of the domain (intake, training, evaluation, commitments) speaks in
terms of a :class:`TaskSchema`, built from the ``task`` section of hokusai.yaml.

Feature types: ``int``, ``float`` and ``bool`` are numbers the model reads as they are;
``category`` is a string one-hot encoded over the categories seen in training; ``text``
is free text read as TF-IDF over a bounded vocabulary (see ``lib.training.features``).
``imputation`` says what a missing value of a feature becomes (see
:func:`parse_imputation`); a schema with only numeric features and no imputation is
trained exactly as before either existed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import SchemaError
from hokusai_assets.lib.feature_values import STRING_FEATURE_TYPES

FeatureType = Literal["int", "float", "bool", "category", "text"]
NUMERIC_FEATURE_TYPES = frozenset({"int", "float", "bool"})
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
    # (feature, strategy) pairs, strategy as parse_imputation reads it. A feature not named
    # here has no imputation: a missing number is an error, a missing category its own
    # category, a missing text an empty one.
    imputation: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        types = dict(self.features)
        named = [name for name, _ in self.imputation]
        if len(set(named)) != len(named):
            raise _imputation_error(f"task imputation names a feature twice: {named}")
        for name, strategy in self.imputation:
            if name not in types:
                raise _imputation_error(f"task imputation names {name!r}, which is not a feature")
            try:
                kind, constant = parse_imputation(strategy)
            except ValueError as exc:
                raise _imputation_error(f"task imputation of {name!r}: {exc}") from None
            numeric = types[name] in NUMERIC_FEATURE_TYPES
            allowed = _IMPUTATION_BY_TYPE["numeric" if numeric else types[name]]
            if kind not in allowed:
                raise _imputation_error(
                    f"imputation {strategy!r} does not apply to {types[name]} feature {name!r}; "
                    f"use {' or '.join(allowed)}"
                )
            if numeric and constant is not None and not _is_finite_number(constant):
                raise _imputation_error(f"imputation {strategy!r} of {name!r} needs a finite number after 'constant:'")

    @property
    def feature_types(self) -> dict[str, FeatureType]:
        return dict(self.features)

    @property
    def imputation_of(self) -> dict[str, str]:
        return dict(self.imputation)

    @property
    def needs_encoding(self) -> bool:
        """Whether the features need more than a cast to float64 (a category, a text, an imputation)."""
        return bool(self.imputation) or any(kind not in NUMERIC_FEATURE_TYPES for _, kind in self.features)

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in self.features]

    @property
    def string_feature_names(self) -> list[str]:
        """The ``category`` and ``text`` features: read as text, normalised by ``lib.feature_values``."""
        return [name for name, kind in self.features if kind in STRING_FEATURE_TYPES]

    @property
    def numeric_columns(self) -> dict[str, FeatureType]:
        """The ``int``, ``float`` and ``bool`` columns (features, and the label unless it is a
        string) with their types: read by the value grammar of ``lib.intake.values``."""
        numeric = {name: kind for name, kind in self.features if kind in NUMERIC_FEATURE_TYPES}
        if self.label_type != "str":
            numeric[self.label] = self.label_type
        return numeric

    @property
    def columns(self) -> list[str]:
        """Committed columns, in a fixed order: id (if any), features, label."""
        head = [self.id_column] if self.id_column else []
        return head + self.feature_names + [self.label]


_IMPUTATION_BY_TYPE = {
    "numeric": ("mean", "median", "most_frequent", "constant"),
    # A category has no mean; a text has no frequent value worth repeating.
    "category": ("most_frequent", "constant"),
    "text": ("constant",),
}


def _imputation_error(message: str) -> SchemaError:
    return SchemaError(message, code="E_SCHEMA_IMPUTATION")


def _is_finite_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def parse_imputation(strategy: str) -> tuple[str, str | None]:
    """``mean``, ``median``, ``most_frequent`` or ``constant:<value>`` as (kind, constant text).

    Raises ValueError for anything else (the caller says which setting it came from).
    """
    if not isinstance(strategy, str):
        raise ValueError(f"an imputation strategy is a string, got {strategy!r}")
    if strategy in ("mean", "median", "most_frequent"):
        return strategy, None
    if strategy.startswith("constant:"):
        return "constant", strategy[len("constant:") :]
    raise ValueError(f"unknown imputation {strategy!r}; use mean, median, most_frequent or constant:<value>")


def canonical_order(frame: pd.DataFrame, schema: TaskSchema) -> pd.DataFrame:
    """Sort rows by label, then features, then id: a total order on distinct rows.

    Tables are kept in this order wherever a model is trained on them, so what is trained
    (and so every bit of the model) does not depend on the order in which rows arrived.
    Category and text columns hold strings (compared as strings); a missing value (None,
    NaN, pd.NA) sorts after every value, so rows with nulls have their place too.
    """
    return frame.iloc[canonical_permutation(frame, schema)].reset_index(drop=True)


def canonical_permutation(frame: pd.DataFrame, schema: TaskSchema) -> np.ndarray:
    """The positions of ``frame``'s rows in canonical order (a stable sort, so equal rows keep
    their order): a subset of rows taken in this order is that subset's canonical order."""
    keys = [schema.label, *schema.feature_names] + ([schema.id_column] if schema.id_column else [])
    return frame.reset_index(drop=True).sort_values(keys, kind="mergesort").index.to_numpy()
