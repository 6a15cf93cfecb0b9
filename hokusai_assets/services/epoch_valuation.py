"""Valuing an epoch: players, coalition fits (each cached by what it trained on), Shapley values.

A coalition's fit is cached under ``storage/reward_subsets`` by a digest of everything that
decides it: the coalition's data root, the baseline and benchmark data roots, the config
digest (trainer, hyperparameters, seed, metric) and the code version. So each subset is
trained once, across materialisations and epochs, and a change of any input is a new key.
``--rerun`` verification passes ``use_cache=False`` and retrains everything.

Every fit uses the hyperparameters the baseline was trained with (``tuned_hyperparameters``:
the configured ones, or the tuning study's choice). The choice is a function of the baseline
rows, the config and the code, which the cache key already holds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.attestation.statement import code_version
from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.files import atomic_write_bytes
from hokusai_assets.lib.rewards.coalitions import CoalitionFit, CoalitionScorer
from hokusai_assets.lib.rewards.epoch_rows import OWNER, ROW_KEY, MemberAccount
from hokusai_assets.lib.rewards.players import KMEANS_RESTARTS, assign_players, holdings, standardised_features
from hokusai_assets.lib.rewards.shapley import coalition_mask, leave_one_out_budget, shapley_values
from hokusai_assets.lib.training.trainers import get_trainer
from hokusai_assets.lib.training.tuning import training_hyperparameters
from hokusai_assets.services.epochs import rewards_config
from hokusai_assets.services.tuning import recorded_document
from hokusai_assets.settings.load import Settings


class FitCache:
    """Coalition fits on disk, one small JSON file per key (``None`` directory: no cache)."""

    def __init__(self, directory: Path | None, context: dict) -> None:
        self.directory = directory
        self._context = context

    def _path(self, root: str) -> Path | None:
        if self.directory is None:
            return None
        key = bytes_digest(canonical_json({**self._context, "coalition_root": root})).split(":", 1)[1]
        return self.directory / f"{key}.json"

    def get(self, root: str) -> dict | None:
        path = self._path(root)
        return json.loads(path.read_text(encoding="utf-8")) if path is not None and path.is_file() else None

    def put(self, root: str, fit: CoalitionFit) -> None:
        path = self._path(root)
        if path is not None:
            atomic_write_bytes(path, canonical_json({k: v for k, v in fit.as_dict().items() if k != "players"}))


def _scorer(
    settings: Settings,
    baseline: pd.DataFrame,
    benchmark: pd.DataFrame,
    table: pd.DataFrame,
    players: np.ndarray,
    hyperparameters: Mapping[str, Any],
) -> CoalitionScorer:
    config = settings.config
    trainer = get_trainer(config.training.framework, config.training.model, hyperparameters, config.training.seed)
    schema = settings.schema
    return CoalitionScorer(
        schema=schema,
        baseline=baseline,
        benchmark=benchmark,
        table=table,
        players=players,
        fit=lambda frame: trainer.fit(frame, schema),
        metric=config.primary_metric,
        average=config.evaluation.average,
        max_samples=config.integration.max_samples,
        seed=config.training.seed,
    )


def value_epoch(
    settings: Settings,
    table: pd.DataFrame,
    accounts: list[MemberAccount],
    baseline: pd.DataFrame,
    benchmark: pd.DataFrame,
    *,
    use_cache: bool = True,
    progress: Callable[[str], None] = lambda _: None,
    hyperparameters: Mapping[str, Any] | None = None,
) -> dict:
    """The epoch's ``contribution_values`` document (JSON-ready; see the README's "Rewards").

    ``hyperparameters``: what the baseline was trained with; by default the stored choice
    (``services/tuning.recorded_document``), which is the configured values without tuning.
    """
    schema = settings.schema
    baseline_root = data_root(baseline, schema.columns)
    if hyperparameters is None:
        hyperparameters = training_hyperparameters(
            settings.config.training.hyperparameters, recorded_document(settings, baseline_root)
        )
    rewards = rewards_config(settings)
    players = assign_players(table, schema, rewards.players, rewards.seed)
    n = int(players.max()) + 1 if len(players) else 0
    scorer = _scorer(settings, baseline, benchmark, table, players, hyperparameters)
    cache = FitCache(
        settings.layout.reward_subset_cache_dir if use_cache else None,
        {
            "baseline_root": baseline_root,
            "benchmark_root": data_root(benchmark, schema.columns),
            "config_digest": settings.config_digest,
            "code_version": code_version(),
        },
    )
    fits: dict[frozenset[int], CoalitionFit] = {}
    trained = [0]

    def fit_mask(mask: np.ndarray, members: tuple[int, ...]) -> CoalitionFit:
        root = scorer.key(mask)
        # The grand coalition is always fitted here: its model must be the epoch model, byte
        # for byte, and a cache shared across machines may hold another CPU's (torch) digest.
        cached = cache.get(root) if not mask.all() else None
        if cached is not None:
            return CoalitionFit(players=members, **cached)
        fit, _ = scorer.evaluate(mask, members)
        cache.put(root, fit)
        trained[0] += 1
        return fit

    def utility(coalition: frozenset[int]) -> float:
        fit = fit_mask(scorer.mask_of(coalition), tuple(sorted(coalition)))
        fits[coalition] = fit
        return fit.utility

    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            progress(f"valued {done}/{total} coalitions ({trained[0]} trained, the rest from the cache)")

    valued = shapley_values(
        n, utility, exact_max=rewards.exact_max, max_fits=rewards.max_fits, seed=rewards.seed,
        truncation=rewards.truncation, progress=report,
    )  # fmt: skip
    wallet_of = {a.partition: a.wallet for a in accounts}
    held = holdings(table[OWNER].tolist(), players, wallet_of)
    # Leave-one-out is a diagnostic: it gets the fits the values leave of rewards.max_fits
    # (plenty after exact Shapley, few after sampling), in arrival order; the rest are skipped.
    holders = [a.partition for a in accounts if a.rows_kept]
    spare = leave_one_out_budget(rewards.max_fits, valued.fits)
    loo: dict[str, dict | None] = {}
    for partition in holders:
        if len(loo) >= spare:
            loo[partition] = None
            continue
        without = fit_mask((table[OWNER] != partition).to_numpy(), ()).as_dict()
        del without["players"]
        loo[partition] = {"value": valued.u_all - without["utility"], "without": without}
    return {
        "players": [
            {
                "player": p,
                "rows": int((players == p).sum()),
                "data_root": scorer.key(players == p),  # the data root of its rows, from leaves hashed once
                "holders": held.get(p, {}),
                "value": valued.values[p],
                # One sampled permutation has no spread to estimate (inf): JSON says null.
                "standard_error": valued.standard_errors[p] if math.isfinite(valued.standard_errors[p]) else None,
            }
            for p in range(n)
        ],
        "valuation": {
            "method": valued.method,
            "metric": settings.config.primary_metric,
            "utility": "direction-aware primary metric on the benchmark, baseline plus the coalition's rows",
            "clustering": {
                "algorithm": "kmeans++/lloyd",
                "standardised": True,
                "max_players": rewards.players,
                "restarts": KMEANS_RESTARTS,
            },
            "fits": valued.fits,
            "permutations": valued.permutations,
            # The sampled orders themselves: a verifier replays them, whatever numpy's streams do.
            "orders": [list(order) for order in valued.orders],
            "seed": rewards.seed,
            "max_fits": rewards.max_fits,
            "exact_max": rewards.exact_max,
            "truncation": rewards.truncation,
            "u_empty": valued.u_empty,
            "u_all": valued.u_all,
            "sum_values": math.fsum(valued.values),
            "efficiency_gap": valued.efficiency_gap,
            "trained_now": trained[0],
        },
        "coalitions": [fits[c].as_dict() for c in sorted(fits, key=coalition_mask)],
        "leave_one_out": loo,
        "harmful_rows": harmful_rows(settings, table, baseline, benchmark),
    }


def harmful_rows(settings: Settings, table: pd.DataFrame, baseline: pd.DataFrame, benchmark: pd.DataFrame) -> dict:
    """Per contribution, its rows with the most negative KNN-Shapley values (content keys)."""
    from hokusai_assets.lib.rewards.knn_shapley import knn_shapley, most_harmful

    rewards = rewards_config(settings)
    schema = settings.schema
    if schema.task_type != "classification" or not len(table) or not rewards.harmful_rows:
        return {}
    train = pd.concat([baseline[schema.columns], table[schema.columns]], ignore_index=True)
    scaled = standardised_features(pd.concat([train, benchmark[schema.columns]], ignore_index=True), schema)
    train_X, test_X = scaled[: len(train)], scaled[len(train) :]
    values = knn_shapley(
        train_X, train[schema.label].to_numpy(), test_X, benchmark[schema.label].to_numpy(), rewards.knn_neighbours
    )[len(baseline) :]
    flagged = most_harmful(values, table[OWNER].tolist(), rewards.harmful_rows)
    keys = table[ROW_KEY].tolist()
    return {
        owner: [{"row_key": keys[i], "knn_shapley": float(values[i])} for i in rows]
        for owner, rows in sorted(flagged.items())
        if rows
    }
