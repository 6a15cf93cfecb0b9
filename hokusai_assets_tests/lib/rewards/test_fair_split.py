"""Splitting cannot game the rewards: real models on real rows, values over content clusters.

The whole valuation in lib (epoch rows, players, coalition fits with the task's trainer,
exact Shapley, shares, largest remainder) on the mock task, with one contribution split
across k wallets and interleaved with the others.
"""

from __future__ import annotations

from fractions import Fraction

import pandas as pd
import pytest
from eth_utils import to_checksum_address

from hokusai_assets.lib.rewards.coalitions import CoalitionScorer
from hokusai_assets.lib.rewards.epoch_rows import OWNER, EpochMember, content_keys, epoch_rows
from hokusai_assets.lib.rewards.payouts import allocate
from hokusai_assets.lib.rewards.players import assign_players, holdings, wallet_values
from hokusai_assets.lib.rewards.shapley import shapley_values
from hokusai_assets.lib.samples.mock_task import feature_names, generate_rows
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.sklearn_trainer import SklearnTrainer

SCHEMA = TaskSchema("classification", "label", "int", tuple((name, "float") for name in feature_names()))
POOL = 10**21
ROWS = generate_rows("classification", 60 + 300 + 3 * 150, seed=3)
BASELINE, BENCHMARK = ROWS.iloc[:60].reset_index(drop=True), ROWS.iloc[60:360].reset_index(drop=True)
A, B, C = (ROWS.iloc[360 + 150 * i : 360 + 150 * (i + 1)].reset_index(drop=True) for i in range(3))
WALLET = {name: to_checksum_address(f"0x{i + 1:040x}") for i, name in enumerate(["A", "B", "C", "D"])}


def split_wallet(i: int) -> str:
    return to_checksum_address(f"0x{0xA0 + i:040x}")


def pay(members: list[EpochMember], players: int = 3) -> tuple[dict[str, int], dict[str, Fraction], tuple[float, ...]]:
    known = set(content_keys(BASELINE, SCHEMA, 6)) | set(content_keys(BENCHMARK, SCHEMA, 6))
    table, accounts = epoch_rows(members, SCHEMA, known, 6)
    assigned = assign_players(table, SCHEMA, players, seed=0)
    trainer = SklearnTrainer(model="logistic_regression", hyperparameters={"max_iter": 500}, seed=0)
    scorer = CoalitionScorer(SCHEMA, BASELINE, BENCHMARK, table, assigned, lambda f: trainer.fit(f, SCHEMA), "accuracy")
    n = int(assigned.max()) + 1
    valued = shapley_values(
        n, lambda c: scorer.evaluate(scorer.mask_of(c))[0].utility, exact_max=10, max_fits=1024, seed=0, truncation=0.0
    )
    held = holdings(table[OWNER].tolist(), assigned, {a.partition: a.wallet for a in accounts})
    shares = wallet_values(valued.values, held, [a.wallet for a in accounts])
    amounts = allocate(shares, POOL).amounts
    return amounts, shares, valued.values


@pytest.fixture(scope="module")
def whole():
    members = [
        EpochMember("c-a", 1, WALLET["A"], A),
        EpochMember("c-b", 2, WALLET["B"], B),
        EpochMember("c-c", 3, WALLET["C"], C),
    ]
    return pay(members)


def test_values_are_efficient_and_somebody_is_paid(whole):
    amounts, shares, values = whole
    assert sum(amounts.values()) == POOL
    assert len(values) == 3
    assert all(amounts[w] > 0 for w in (WALLET["A"], WALLET["B"], WALLET["C"]))


@pytest.mark.parametrize("k", [2, 3, 5])
def test_splitting_one_contribution_across_k_wallets_changes_no_groups_total(whole, k):
    amounts, shares, values = whole
    pieces = [A.iloc[i::k].reset_index(drop=True) for i in range(k)]
    # Interleaved with the others: A's pieces arrive before, between and after B and C.
    members = [EpochMember(f"c-a{i}", 10 * i + 1, split_wallet(i), piece) for i, piece in enumerate(pieces)]
    members += [EpochMember("c-b", 12, WALLET["B"], B), EpochMember("c-c", 23, WALLET["C"], C)]
    split_amounts, split_shares, split_values = pay(members)
    assert split_values == values  # the same content gives the same players and the same fits
    group = [split_wallet(i) for i in range(k)]
    assert sum(split_shares[w] for w in group) == shares[WALLET["A"]]  # exactly, before rounding
    assert abs(sum(split_amounts[w] for w in group) - amounts[WALLET["A"]]) <= k
    for other in ("B", "C"):
        assert abs(split_amounts[WALLET[other]] - amounts[WALLET[other]]) <= 1


def test_a_copy_of_another_contributors_data_earns_nothing(whole):
    amounts, _, values = whole
    copy = B.sample(frac=1.0, random_state=1).reset_index(drop=True)  # same rows, shuffled
    members = [
        EpochMember("c-a", 1, WALLET["A"], A),
        EpochMember("c-b", 2, WALLET["B"], B),
        EpochMember("c-c", 3, WALLET["C"], C),
        EpochMember("c-d", 4, WALLET["D"], copy),
    ]
    copied_amounts, _, copied_values = pay(members)
    assert copied_amounts[WALLET["D"]] == 0
    assert copied_values == values
    assert {w: a for w, a in copied_amounts.items() if w != WALLET["D"]} == amounts


def test_of_two_holders_of_the_same_rows_only_the_earlier_is_paid():
    shared = pd.concat([A.iloc[:75], B.iloc[:75]], ignore_index=True)
    members = [EpochMember("c-late", 9, WALLET["B"], shared), EpochMember("c-early", 1, WALLET["A"], shared)]
    amounts, _, _ = pay(members, players=2)
    assert amounts.get(WALLET["B"], 0) == 0
    assert amounts[WALLET["A"]] == POOL
