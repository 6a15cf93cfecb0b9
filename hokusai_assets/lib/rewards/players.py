"""The players of an epoch's Shapley game: content clusters of its new rows, never wallets.

Shapley over reported identities pays a contributor for splitting one dataset across
several wallets whenever extra data has diminishing returns. Here the players are
defined by content alone: k-means (k-means++ seeded, Lloyd, one thread so the result does
not depend on the machine's core count) on the standardised features of the epoch's new
rows, taken in content order (``epoch_rows.ROW_KEY``), so the clusters do not depend on
row order or on who sent which row. Clusters are numbered by their smallest content key.

A cluster's value is then shared among the wallets holding its rows in proportion to
their rows (:func:`wallet_values`; a player whose value is not positive pays nothing), so
the same rows earn the same total however they are grouped into wallets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

import numpy as np
import pandas as pd

from hokusai_assets.lib.rewards.epoch_rows import ROW_KEY
from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.task import TaskSchema

KMEANS_RESTARTS = 3  # seeded k-means++ starts; the best (lowest inertia) is kept


def standardised_features(table: pd.DataFrame, schema: TaskSchema) -> np.ndarray:
    """Features as float64, centred and scaled per column (a constant column stays 0).

    A task with categories, texts or imputation is first encoded by a
    :class:`~hokusai_assets.lib.training.features.FeatureEncoder` fitted on ``table`` itself
    (one-hot categories, TF-IDF texts, imputed numbers), the same encoding its models read;
    a purely numeric task is cast to float64 as it always was.
    """
    if schema.needs_encoding:
        if len(table) == 0:
            return np.zeros((0, 0), dtype=np.float64)
        from hokusai_assets.lib.training.features import FeatureEncoder

        X = FeatureEncoder.fit(table, schema).transform(table)
    else:
        X = table[schema.feature_names].astype("float64").to_numpy()
    if len(X) == 0:
        return X
    centre = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    return (X - centre) / scale


def assign_players(table: pd.DataFrame, schema: TaskSchema, max_players: int, seed: int) -> np.ndarray:
    """The player (0..k-1, k <= max_players) of every row of ``table`` (sorted by ``ROW_KEY``)."""
    if not table[ROW_KEY].is_monotonic_increasing:
        raise RewardsError(
            "assign_players needs the epoch table in content order (sorted by its row key); build it with epoch_rows",
            code="E_REWARDS_ORDER",
        )
    n = len(table)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    Z = standardised_features(table, schema)
    k = min(max_players, len(np.unique(Z, axis=0)))
    if k <= 1:
        return np.zeros(n, dtype=np.int64)
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        labels = KMeans(n_clusters=k, n_init=KMEANS_RESTARTS, random_state=seed, algorithm="lloyd").fit_predict(Z)
    # Number clusters by their first row in content order: stable names, whatever k-means called them.
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first, kind="stable")
    renumber = np.empty(labels.max() + 1, dtype=np.int64)
    renumber[np.unique(labels)[order]] = np.arange(len(order))
    return renumber[labels]


def holdings(owners: Sequence[str], players: np.ndarray, wallet_of: Mapping[str, str]) -> dict[int, dict[str, int]]:
    """Rows per wallet in each player: ``{player: {wallet: rows}}`` (wallets sorted)."""
    counts: dict[int, dict[str, int]] = {}
    for owner, player in zip(owners, players.tolist()):
        wallet = wallet_of[owner]
        bucket = counts.setdefault(int(player), {})
        bucket[wallet] = bucket.get(wallet, 0) + 1
    return {p: dict(sorted(c.items())) for p, c in sorted(counts.items())}


def wallet_values(
    values: Sequence[float], held: Mapping[int, Mapping[str, int]], wallets: Iterable[str] = ()
) -> dict[str, Fraction]:
    """Each wallet's share of the players' values, exactly, in proportion to its rows;
    ``wallets`` (the epoch's members') are listed with 0 when they hold no new row.

    A player whose value is not positive pays nothing, rather than being netted against
    another player's: netting would make a wallet's total depend on how its rows are
    grouped with others', and reward splitting off harmful rows into a wallet of their own.
    """
    shares: dict[str, Fraction] = dict.fromkeys(wallets, Fraction(0))
    for player, by_wallet in held.items():
        value = Fraction(values[player])
        rows = sum(by_wallet.values())
        for wallet, count in by_wallet.items():
            share = value * count / rows if value > 0 else Fraction(0)
            shares[wallet] = shares.get(wallet, Fraction(0)) + share
    return dict(sorted(shares.items()))
