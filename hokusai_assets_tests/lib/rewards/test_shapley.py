"""Shapley values: exact against brute force over every ordering, sampling, budget, dispatch."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.shapley import (
    EXACT,
    TRUNCATED_MONTE_CARLO,
    exact_shapley,
    permutation_shapley,
    shapley_from_utilities,
    shapley_values,
)


def all_coalitions(n: int) -> list[frozenset[int]]:
    return [frozenset(c) for size in range(n + 1) for c in itertools.combinations(range(n), size)]


def random_game(n: int, seed: int) -> dict[frozenset[int], float]:
    rng = np.random.default_rng(seed)
    return {c: float(rng.normal()) for c in all_coalitions(n)}


def brute_force_shapley(n: int, utility) -> list[float]:
    """The definition itself: the mean marginal contribution over all n! orderings."""
    totals = [0.0] * n
    orderings = list(itertools.permutations(range(n)))
    for ordering in orderings:
        members: set[int] = set()
        for player in ordering:
            before = utility(frozenset(members))
            members.add(player)
            totals[player] += utility(frozenset(members)) - before
    return [t / len(orderings) for t in totals]


def concave_game(weights: list[float]):
    """A structured game: diminishing returns on the total weight of the coalition."""
    return lambda coalition: math.sqrt(sum(weights[p] for p in coalition)) + 0.25


class CountingUtility:
    def __init__(self, utility):
        self.utility, self.calls = utility, Counter()

    def __call__(self, coalition):
        self.calls[coalition] += 1
        return self.utility(coalition)


# --- exact -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_exact_equals_brute_force_on_random_games(n):
    game = random_game(n, seed=100 + n)
    values = exact_shapley(n, game.__getitem__).values
    assert values == pytest.approx(brute_force_shapley(n, game.__getitem__), abs=1e-12, rel=0)


@pytest.mark.parametrize("n", [1, 3, 6])
def test_exact_equals_brute_force_on_a_structured_game(n):
    utility = concave_game([0.5 + i for i in range(n)])
    values = exact_shapley(n, utility).values
    assert values == pytest.approx(brute_force_shapley(n, utility), abs=1e-12, rel=0)
    assert all(later > earlier for earlier, later in zip(values, values[1:]))  # more weight, more value


def test_no_players_have_no_values():
    result = exact_shapley(0, lambda c: 0.7)
    assert result.values == () and result.fits == 1 and result.u_empty == result.u_all == 0.7


def test_symmetric_players_get_equal_values_and_a_null_player_gets_zero():
    # Players 0 and 1 are interchangeable; player 3 adds nothing to any coalition.
    weights = [2.0, 2.0, 5.0, 0.0]
    utility = lambda c: min(sum(weights[p] for p in c), 6.0) ** 1.5  # noqa: E731
    values = exact_shapley(4, utility).values
    assert values[0] == values[1]
    assert values[3] == 0.0
    assert values[2] != values[0]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 7), seed=st.integers(0, 2**32 - 1))
def test_efficiency_holds_to_rounding(n, seed):
    game = random_game(n, seed)
    result = exact_shapley(n, game.__getitem__)
    assert abs(sum(result.values) - (game[frozenset(range(n))] - game[frozenset()])) <= 1e-12
    assert abs(result.efficiency_gap) <= 1e-12


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_values_are_additive_in_the_game(n, seed):
    first, second = random_game(n, seed), random_game(n, seed + 1)
    summed = {c: first[c] + second[c] for c in first}
    together = exact_shapley(n, summed.__getitem__).values
    apart = [
        a + b for a, b in zip(exact_shapley(n, first.__getitem__).values, exact_shapley(n, second.__getitem__).values)
    ]
    assert together == pytest.approx(apart, abs=1e-12, rel=0)


def test_exact_calls_the_utility_once_per_coalition_and_records_every_one():
    game = random_game(5, seed=7)
    counting = CountingUtility(game.__getitem__)
    progress: list[tuple[int, int]] = []
    result = exact_shapley(5, counting, progress=lambda done, total: progress.append((done, total)))
    assert set(counting.calls) == set(game) and set(counting.calls.values()) == {1}
    assert result.fits == 32 and result.utilities == game
    assert progress == [(done, 32) for done in range(1, 33)]
    assert result.method == EXACT and result.permutations == 0 and result.standard_errors == (0.0,) * 5


def test_exact_is_bit_identical_across_runs_and_recomputable_from_the_record():
    game = random_game(6, seed=11)
    first, second = exact_shapley(6, game.__getitem__), exact_shapley(6, game.__getitem__)
    assert [v.hex() for v in first.values] == [v.hex() for v in second.values]
    record = json.loads(json.dumps(first.as_dict(), allow_nan=False))
    table = {frozenset(c["players"]): c["utility"] for c in record["coalitions"]}
    assert shapley_from_utilities(6, table) == first.values
    # The formula does not depend on the order the utilities arrive in.
    assert shapley_from_utilities(6, dict(reversed(list(table.items())))) == first.values


def test_the_formula_refuses_an_incomplete_table_and_a_non_finite_utility():
    game = random_game(3, seed=1)
    del game[frozenset({0, 2})]
    with pytest.raises(RewardsError) as missing:
        shapley_from_utilities(3, game)
    assert missing.value.code == "E_REWARDS_COALITION" and "[0, 2]" in missing.value.message
    with pytest.raises(RewardsError) as nan:
        exact_shapley(2, lambda c: float("nan") if len(c) == 1 else 0.0)
    assert nan.value.code == "E_REWARDS_UTILITY"


# --- truncated Monte Carlo -------------------------------------------------------------------


def test_sampling_stays_within_the_budget_and_counts_real_fits():
    game = concave_game([1.0 + (i % 4) for i in range(12)])
    counting = CountingUtility(game)
    result = permutation_shapley(12, counting, max_fits=100, seed=3)
    assert set(counting.calls.values()) == {1}  # memoised: each coalition fitted once
    assert result.fits == len(counting.calls) <= 100
    assert result.fits > 100 - 11  # it stopped only when another permutation might not have fitted
    assert result.permutations == len(result.orders) >= 1
    assert set(result.utilities) == set(counting.calls)


def test_sampling_is_deterministic_for_a_seed_and_differs_across_seeds():
    game = random_game(8, seed=5)
    first = permutation_shapley(8, game.__getitem__, max_fits=120, seed=42, truncation=0.1)
    again = permutation_shapley(8, game.__getitem__, max_fits=120, seed=42, truncation=0.1)
    other = permutation_shapley(8, game.__getitem__, max_fits=120, seed=43, truncation=0.1)
    assert [v.hex() for v in first.values] == [v.hex() for v in again.values]
    assert first.standard_errors == again.standard_errors and first.orders == again.orders
    assert other.values != first.values and other.orders != first.orders


def test_sampling_converges_to_the_exact_values_within_a_few_standard_errors():
    n = 7
    game = random_game(n, seed=21)
    exact = brute_force_shapley(n, game.__getitem__)
    result = permutation_shapley(n, game.__getitem__, max_fits=2**n, seed=9, max_permutations=2000)
    assert result.method == TRUNCATED_MONTE_CARLO and result.permutations > 100
    assert all(se > 0 for se in result.standard_errors)
    for value, se, truth in zip(result.values, result.standard_errors, exact):
        assert abs(value - truth) <= 4 * se
    # Without truncation every permutation's marginals add up to U(N) − U(∅).
    assert abs(result.efficiency_gap) <= 1e-9


def test_the_record_replays_bit_for_bit():
    game = random_game(9, seed=2)
    result = permutation_shapley(9, game.__getitem__, max_fits=200, seed=4, truncation=0.2)
    record = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    table = {frozenset(c["players"]): c["utility"] for c in record["coalitions"]}
    # A verifier with only the seed and budget replays it from the table, fitting nothing.
    replay = permutation_shapley(9, table.__getitem__, max_fits=200, seed=4, truncation=0.2)
    assert replay.values == result.values and replay.fits == result.fits


def test_truncation_skips_fits_once_the_prefix_is_close_to_the_full_score():
    # Saturating returns: after a few players the prefix is within 5% of U(N).
    game = lambda c: 1.0 - 0.5 ** len(c)  # noqa: E731
    plain = permutation_shapley(14, game, max_fits=100_000, seed=1, max_permutations=30)
    truncated = permutation_shapley(14, game, max_fits=100_000, seed=1, truncation=0.05, max_permutations=30)
    assert plain.permutations == truncated.permutations == 30
    assert truncated.fits < plain.fits / 2
    # Truncation drops the tail (|U(N) − U(prefix)| < 5% of the gap), so the values lose at most that.
    assert 0 <= -truncated.efficiency_gap < 0.05 * (game(frozenset(range(14))) - game(frozenset()))


def test_truncation_zero_or_an_unchanged_score_never_truncates():
    flat = {c: (0.5 if len(c) in (0, 4) else float(len(c))) for c in all_coalitions(4)}  # U(N) = U(∅)
    result = permutation_shapley(4, flat.__getitem__, max_fits=15, seed=0, truncation=0.5)
    assert any(v != 0.0 for v in result.values)
    assert len(result.utilities) > 2


def test_a_single_permutation_has_an_infinite_standard_error():
    game = random_game(4, seed=3)
    result = permutation_shapley(4, game.__getitem__, max_fits=50, seed=0, max_permutations=1)
    assert result.permutations == 1 and all(math.isinf(se) for se in result.standard_errors)
    assert result.as_dict()["standard_errors"] == [None] * 4


@pytest.mark.parametrize("n, max_fits", [(5, 5), (1, 1), (0, 0)])
def test_a_budget_too_small_for_one_permutation_is_refused(n, max_fits):
    with pytest.raises(RewardsError) as refused:
        permutation_shapley(n, lambda c: 0.0, max_fits=max_fits, seed=0)
    assert refused.value.code == "E_REWARDS_BUDGET" and f"at least {n + 1}" in refused.value.message


def test_the_smallest_budget_samples_one_full_permutation():
    game = random_game(5, seed=8)
    result = permutation_shapley(5, game.__getitem__, max_fits=6, seed=0)
    assert result.permutations >= 1 and result.fits <= 6
    first = result.orders[0]
    assert all(frozenset(first[:size]) in result.utilities for size in range(6))


@pytest.mark.parametrize("truncation", [-0.1, 1.0, 2.0])
def test_truncation_outside_zero_to_one_is_refused(truncation):
    with pytest.raises(RewardsError) as refused:
        permutation_shapley(3, lambda c: 0.0, max_fits=10, seed=0, truncation=truncation)
    assert refused.value.code == "E_REWARDS_TRUNCATION"


# --- dispatch --------------------------------------------------------------


@pytest.mark.parametrize(
    "n, exact_max, max_fits, method",
    [(4, 5, 16, EXACT), (4, 4, 100, EXACT), (4, 5, 15, TRUNCATED_MONTE_CARLO), (4, 3, 100, TRUNCATED_MONTE_CARLO)],
)
def test_the_dispatcher_is_exact_only_when_allowed_and_affordable(n, exact_max, max_fits, method):
    game = random_game(n, seed=17)
    result = shapley_values(n, game.__getitem__, exact_max=exact_max, max_fits=max_fits, seed=0, truncation=0.0)
    assert result.method == method and result.fits <= max_fits
    if method == EXACT:
        assert result.values == pytest.approx(brute_force_shapley(n, game.__getitem__), abs=1e-12, rel=0)
