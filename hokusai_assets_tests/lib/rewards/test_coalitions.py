"""A coalition's training set: the presorted fast path is exactly what integration gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.rewards.coalitions import CoalitionScorer, direction_aware, training_set
from hokusai_assets.lib.rewards.epoch_rows import EpochMember, content_keys, epoch_rows
from hokusai_assets.lib.samples.mock_task import feature_names, generate_rows
from hokusai_assets.lib.task import TaskSchema

SCHEMA = TaskSchema("classification", "label", "int", tuple((name, "float") for name in feature_names()))


def scorer(max_samples=None) -> tuple[CoalitionScorer, pd.DataFrame]:
    rows = generate_rows("classification", 400, seed=5)
    baseline = pd.concat([rows.iloc[:80], rows.iloc[:10]], ignore_index=True)  # with repeated rows
    members = [EpochMember(f"c-{i}", i, "0x" + "0" * 40, rows.iloc[80 + i * 100 : 180 + i * 100]) for i in range(3)]
    table, _ = epoch_rows(members, SCHEMA, set(content_keys(baseline, SCHEMA, 6)), 6)
    players = np.arange(len(table)) % 4
    return CoalitionScorer(
        SCHEMA, baseline, baseline, table, players, fit=None, metric="accuracy", max_samples=max_samples
    ), table


@pytest.mark.parametrize("max_samples", [None, 150])
def test_every_coalition_trains_on_exactly_the_integrated_rows(max_samples):
    fast, table = scorer(max_samples)
    for bits in range(16):
        mask = fast.mask_of(frozenset(p for p in range(4) if bits >> p & 1))
        expected = training_set(fast.baseline, table.loc[mask], SCHEMA, max_samples, 0)
        pd.testing.assert_frame_equal(fast.training_set(mask), expected)


def test_a_coalition_is_named_by_the_data_root_of_its_rows():
    fast, table = scorer()
    mask = fast.mask_of(frozenset({1, 3}))
    shuffled = table.loc[mask].sample(frac=1.0, random_state=0)
    assert fast.key(mask) == data_root(shuffled, SCHEMA.columns) != fast.key(fast.mask_of(frozenset({1})))
    assert fast.key(fast.mask_of(frozenset())) == data_root(table.iloc[:0], SCHEMA.columns)


def test_error_metrics_are_negated_so_higher_is_always_better():
    assert direction_aware("accuracy", 0.9) == 0.9 and direction_aware("mse", 2.0) == -2.0
