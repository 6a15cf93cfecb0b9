"""Integrating a contribution with the baseline training set.

Strategies:
- ``append``: baseline rows plus contribution rows;
- ``replace``: the contribution alone replaces the baseline;
- ``update``: keyed by the id column, a contribution row replaces the baseline row with
  the same id, and rows with new ids are added.

Then exact duplicates (over the committed columns) are removed and, when the result is
larger than ``max_samples``, a stratified sample is kept. The output is put in canonical
order (sorted by value), so the integrated set, and so the trained model, does not depend
on the order in which rows arrived.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import SchemaError
from hokusai_assets.lib.task import TaskSchema, canonical_order

STRATEGIES = ("append", "replace", "update")
# Regression labels are stratified by quantile bins; ten keeps every bin populated on
# small sets while still preserving the label's shape.
_REGRESSION_STRATA = 10


@dataclass(frozen=True)
class IntegrationStats:
    baseline_rows: int
    contribution_rows: int
    replaced_rows: int
    duplicates_removed: int
    sampled_out: int
    output_rows: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def merge(baseline: pd.DataFrame, contribution: pd.DataFrame, schema: TaskSchema, strategy: str) -> tuple[pd.DataFrame, int]:
    """Apply a merge strategy; return the merged rows and how many baseline rows were replaced."""
    columns = schema.columns
    if strategy == "append":
        return pd.concat([baseline[columns], contribution[columns]], ignore_index=True), 0
    if strategy == "replace":
        return contribution[columns].reset_index(drop=True), len(baseline)
    if strategy == "update":
        if not schema.id_column:
            raise SchemaError(
                "merge strategy 'update' needs task.id_column to match rows; set it or use 'append'",
                code="E_INTEGRATE_NO_ID",
            )
        replaced = baseline[schema.id_column].isin(set(contribution[schema.id_column]))
        kept = baseline.loc[~replaced, columns]
        return pd.concat([kept, contribution[columns]], ignore_index=True), int(replaced.sum())
    raise SchemaError(
        f"unknown merge strategy {strategy!r}; use one of {', '.join(STRATEGIES)}",
        code="E_INTEGRATE_STRATEGY",
    )


def drop_exact_duplicates(frame: pd.DataFrame, schema: TaskSchema) -> pd.DataFrame:
    """Remove rows equal in every model-visible column (features and label), keeping the first."""
    return frame.drop_duplicates(subset=[*schema.feature_names, schema.label], keep="first").reset_index(drop=True)


def _strata(frame: pd.DataFrame, schema: TaskSchema) -> pd.Series:
    labels = frame[schema.label]
    if schema.task_type == "classification":
        return labels.astype(str)
    # Quantile bins of the target, ranked first so ties cannot make bins collapse.
    ranks = labels.rank(method="first")
    return pd.qcut(ranks, q=min(_REGRESSION_STRATA, len(frame)), labels=False).astype(str)


def _quotas(sizes: pd.Series, total: int) -> dict[str, int]:
    """Largest-remainder allocation of ``total`` rows across strata, proportional to size."""
    exact = sizes * total / sizes.sum()
    quotas = np.floor(exact).astype(int)
    shortfall = total - int(quotas.sum())
    # Ties broken by stratum name so the allocation is deterministic.
    order = sorted(sizes.index, key=lambda s: (-(exact[s] - quotas[s]), s))
    for stratum in order[:shortfall]:
        quotas[stratum] += 1
    return {s: int(quotas[s]) for s in sizes.index}


def stratified_cap(frame: pd.DataFrame, schema: TaskSchema, max_samples: int, seed: int) -> pd.DataFrame:
    """Keep at most ``max_samples`` rows, preserving the label distribution."""
    if len(frame) <= max_samples:
        return frame
    ordered = canonical_order(frame, schema)
    strata = _strata(ordered, schema)
    quotas = _quotas(strata.value_counts().sort_index(), max_samples)
    rng = np.random.RandomState(seed)
    chosen: list[np.ndarray] = []
    for stratum in sorted(quotas):
        members = np.flatnonzero((strata == stratum).to_numpy())
        chosen.append(np.sort(rng.permutation(members)[: quotas[stratum]]))
    return ordered.iloc[np.concatenate(chosen)].reset_index(drop=True)


def integrate(
    baseline: pd.DataFrame,
    contribution: pd.DataFrame,
    schema: TaskSchema,
    *,
    strategy: str = "append",
    deduplicate: bool = True,
    max_samples: int | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, IntegrationStats]:
    merged, replaced = merge(baseline, contribution, schema, strategy)
    deduplicated = drop_exact_duplicates(merged, schema) if deduplicate else merged
    capped = stratified_cap(deduplicated, schema, max_samples, seed) if max_samples else deduplicated
    result = canonical_order(capped, schema)
    stats = IntegrationStats(
        baseline_rows=len(baseline),
        contribution_rows=len(contribution),
        replaced_rows=replaced,
        duplicates_removed=len(merged) - len(deduplicated),
        sampled_out=len(deduplicated) - len(capped),
        output_rows=len(result),
    )
    return result, stats
