"""The utility of a coalition of players: train on the baseline plus their rows, score on the benchmark.

U(S) is the primary metric's direction-aware value (higher is better: an error metric is
negated) on the benchmark, of a model fitted by the task's trainer, hyperparameters and
seed on the baseline training set integrated (append, deduplicated, canonical order) with
the rows of the players in S. U(empty) is the score of the baseline rows alone (deduplicated
as integration does); U(all players) is the epoch model's. Each coalition is identified by
the data root of its rows, which is what a cache of fits is keyed by and what the epoch's
statement commits to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from hokusai_assets.lib.commitments.digests import SHA256_PREFIX, bytes_digest
from hokusai_assets.lib.commitments.merkle import merkle_root, row_leaves
from hokusai_assets.lib.evaluation.metrics import HIGHER_IS_BETTER, Predictions, compute_metrics
from hokusai_assets.lib.rewards.epoch_rows import task_rows
from hokusai_assets.lib.task import TaskSchema, canonical_permutation
from hokusai_assets.lib.training.integrate import integrate
from hokusai_assets.lib.training.model import TrainedModel


@dataclass(frozen=True)
class CoalitionFit:
    """One fitted coalition: what was trained on, the model it gave, and its utility."""

    players: tuple[int, ...]
    data_root: str  # of the coalition's epoch rows (not of the baseline)
    model_digest: str
    training_rows: int
    utility: float

    def as_dict(self) -> dict:
        return {**asdict(self), "players": list(self.players)}


def direction_aware(metric: str, value: float) -> float:
    """A metric value as a score where higher is always better."""
    return value if HIGHER_IS_BETTER[metric] else -value


def training_set(
    baseline: pd.DataFrame, rows: pd.DataFrame, schema: TaskSchema, max_samples: int | None, seed: int
) -> pd.DataFrame:
    """The baseline with ``rows`` of the epoch appended (deduplicated, capped, canonical order):
    what every coalition's model, and the epoch model, is trained on."""
    frame, _ = integrate(
        baseline,
        task_rows(rows, schema).reset_index(drop=True),
        schema,
        strategy="append",
        deduplicate=True,
        max_samples=max_samples,
        seed=seed,
    )
    return frame


@dataclass
class CoalitionScorer:
    """Fits and scores coalitions of one epoch; ``fit`` is the trainer's fit function."""

    schema: TaskSchema
    baseline: pd.DataFrame
    benchmark: pd.DataFrame
    table: pd.DataFrame  # the epoch's new rows (epoch_rows), in content order
    players: np.ndarray  # the player of each row of ``table``
    fit: Callable[[pd.DataFrame], TrainedModel]
    metric: str
    average: str = "macro"
    max_samples: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self._ordered = self._presorted() if self.max_samples is None and self.schema.id_column is None else None
        # Each epoch row's leaf, once: a coalition's data root is then a sort and a tree.
        self._leaves = row_leaves(task_rows(self.table, self.schema), self.schema.columns)

    def _presorted(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The baseline and every epoch row, deduplicated and in canonical order, once.

        Epoch rows are distinct from each other and from the baseline's (content keys), so
        baseline plus a coalition's rows, integrated, is exactly the rows of this frame that
        are the baseline's or the coalition's, in this frame's order (the sort is stable).
        Sorting once instead of per coalition halves the cost of a valuation.
        """
        rows = task_rows(self.table, self.schema).reset_index(drop=True)
        combined = pd.concat([self.baseline[self.schema.columns], rows], ignore_index=True)
        origin = np.concatenate([np.full(len(self.baseline), -1), np.arange(len(rows))])
        kept = ~combined.duplicated(subset=[*self.schema.feature_names, self.schema.label], keep="first").to_numpy()
        combined, origin = combined.loc[kept].reset_index(drop=True), origin[kept]
        order = canonical_permutation(combined, self.schema)
        return combined.iloc[order].reset_index(drop=True), origin[order]

    def mask_of(self, coalition: frozenset[int]) -> np.ndarray:
        """Which epoch rows the players of ``coalition`` hold."""
        return np.isin(self.players, sorted(coalition))

    def key(self, mask: np.ndarray) -> str:
        """The data root of a set of epoch rows (``data_root`` of those rows): what names a
        coalition in the fit cache and in the statement."""
        return SHA256_PREFIX + merkle_root(sorted(self._leaves[i] for i in np.flatnonzero(mask))).hex()

    def training_set(self, mask: np.ndarray) -> pd.DataFrame:
        if self._ordered is None:  # a stratified cap or an id column: integrate as the epoch model does
            return training_set(self.baseline, self.table.loc[mask], self.schema, self.max_samples, self.seed)
        ordered, origin = self._ordered
        keep = (origin < 0) | np.concatenate([mask, [False]])[origin]  # origin -1 is the baseline
        return ordered.loc[keep].reset_index(drop=True)

    def score(self, model: TrainedModel) -> float:
        if self.metric == "auroc":  # the only metric that needs probabilities
            preds = model.predict(self.benchmark)
        else:  # one pass through the model instead of two: a third of a small model's cost
            y_true = self.benchmark[self.schema.label].to_numpy()
            y_pred = model.predict_features(self.benchmark)
            preds = Predictions(
                y_true=y_true if self.schema.task_type == "classification" else y_true.astype("float64"), y_pred=y_pred
            )
        value = compute_metrics(self.schema.task_type, [self.metric], preds, self.average)[self.metric]
        return direction_aware(self.metric, value)

    def evaluate(self, mask: np.ndarray, players: tuple[int, ...] = ()) -> tuple[CoalitionFit, TrainedModel]:
        """Train on the baseline plus the rows in ``mask`` and score the model on the benchmark."""
        frame = self.training_set(mask)
        model = self.fit(frame)
        fit = CoalitionFit(
            players=players,
            data_root=self.key(mask),
            model_digest=bytes_digest(model.to_bytes()),
            training_rows=len(frame),
            utility=self.score(model),
        )
        return fit, model
