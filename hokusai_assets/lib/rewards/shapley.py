"""The players' Shapley values: exact, sampled by truncated Monte Carlo, and leave-one-out.

Owns the valuation arithmetic only. A utility U(S) is any callable on a coalition (a
frozenset of players 0..n-1) returning a finite float; in an epoch each call fits a model,
so every function evaluates a coalition at most once (a memo), reports how many distinct
coalitions it evaluated (``fits``) and returns every utility it saw, so that a third party
can replay the whole valuation on the recorded utilities without fitting anything
(:func:`shapley_values` with a table lookup as the utility; see ``verify.py``).

- Exact (Shapley 1953, "A value for n-person games"): value_i = Σ_{S ⊆ N∖{i}}
  |S|!(n−|S|−1)!/n! · (U(S∪{i}) − U(S)). All 2**n coalitions are evaluated once, in
  ascending bitmask order (bit i = player i). Every double is a dyadic rational, so the sum
  is done exactly in integers and rationals and rounded once: the result is the correctly
  rounded Shapley value of the recorded utilities, whatever the machine or summation order.
- Truncated Monte Carlo (Ghorbani & Zou 2019, "Data Shapley: Equitable Valuation of Data
  for Machine Learning", ICML; permutation sampling after Castro et al. 2009): the m-th
  permutation is :func:`seeded_permutation` (Fisher-Yates driven by SHA-256 of the seed and
  m), so a verifier regenerates the orders from the seed alone; a player's value is its mean marginal
  contribution U(prefix ∪ {i}) − U(prefix) over the permutations. Plain independent
  permutations, no antithetic pairs, so the standard error is the textbook one.
  *Truncation*: walking a permutation, once |U(N) − U(prefix)| < truncation · |U(N) − U(∅)|
  (strictly), the remaining players' marginals are 0 and nothing more is fitted. The strict
  inequality makes truncation = 0 disable it, and a zero gap U(N) = U(∅) never truncate.
  *Budget*: U(∅) and U(N) are fitted first; before each permutation its not-yet-fitted
  prefixes (at most n − 1) are counted, and sampling stops, discarding that permutation,
  when they could take the fits past ``max_fits``; so only complete permutations count and
  fits <= max_fits always. The first permutation needs up to n + 1 fits in all: a smaller
  budget is refused (E_REWARDS_BUDGET). Sampling also stops after ``max_permutations``.
  *Standard error*: sample std (ddof=1) / sqrt(m); with a single permutation there is no
  spread to estimate and it is ``inf`` (``None`` in :meth:`PlayerValues.as_dict`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from hokusai_assets.lib.rewards.errors import RewardsError

Coalition = frozenset[int]
Utility = Callable[[Coalition], float]
Progress = Callable[[int, int], None]

EXACT = "exact"
TRUNCATED_MONTE_CARLO = "truncated_monte_carlo"
DEFAULT_MAX_PERMUTATIONS = 10_000
_DYADIC_BITS = 1074  # every finite double is an integer multiple of 2**-1074


@dataclass(frozen=True)
class PlayerValues:
    """The players' values and everything needed to recompute them."""

    values: tuple[float, ...]
    standard_errors: tuple[float, ...]  # 0.0 for every player when exact; inf when one permutation
    method: str  # EXACT | TRUNCATED_MONTE_CARLO
    fits: int  # distinct coalitions evaluated
    permutations: int  # 0 when exact
    utilities: dict[Coalition, float] = field(repr=False)
    u_empty: float
    u_all: float
    orders: tuple[tuple[int, ...], ...] = field(default=(), repr=False)  # the sampled permutations
    truncation: float = 0.0

    @property
    def efficiency_gap(self) -> float:
        """sum(values) − (U(N) − U(∅)): rounding only when exact; sampling error otherwise."""
        return math.fsum(self.values) - (self.u_all - self.u_empty)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: coalitions as sorted player lists, in ascending bitmask order."""
        recorded = sorted(self.utilities.items(), key=lambda item: coalition_mask(item[0]))
        return {
            "method": self.method,
            "values": list(self.values),
            "standard_errors": [se if math.isfinite(se) else None for se in self.standard_errors],
            "fits": self.fits,
            "permutations": self.permutations,
            "truncation": self.truncation,
            "u_empty": self.u_empty,
            "u_all": self.u_all,
            "efficiency_gap": self.efficiency_gap,
            "orders": [list(order) for order in self.orders],
            "coalitions": [{"players": sorted(c), "utility": u} for c, u in recorded],
        }


def coalition_mask(coalition: Coalition) -> int:
    """The coalition as a bitmask: bit i set when player i is in it."""
    return sum(1 << player for player in coalition)


def coalition_of(mask: int, n: int) -> Coalition:
    """The coalition whose bitmask is ``mask``."""
    return frozenset(player for player in range(n) if mask >> player & 1)


def _finite(value: Any, coalition: Coalition) -> float:
    utility = float(value)
    if not math.isfinite(utility):
        raise RewardsError(
            f"the utility of coalition {sorted(coalition)} is {utility}; a benchmark score must be a finite number.",
            code="E_REWARDS_UTILITY",
        )
    return utility


class _Memo:
    """Evaluates each coalition once, records it, and reports progress after every fit."""

    def __init__(self, utility: Utility, progress: Progress | None, total: int) -> None:
        self.utility, self.progress, self.total = utility, progress, total
        self.utilities: dict[Coalition, float] = {}

    def __call__(self, coalition: Coalition) -> float:
        if coalition not in self.utilities:
            self.utilities[coalition] = _finite(self.utility(coalition), coalition)
            if self.progress is not None:
                self.progress(len(self.utilities), self.total)
        return self.utilities[coalition]


def _check_players(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise RewardsError(f"the number of players must be an integer >= 0, got {n!r}.", code="E_REWARDS_PLAYERS")


def _dyadic_int(utility: float) -> int:
    """utility · 2**1074, exactly (an integer for every finite double)."""
    numerator, denominator = utility.as_integer_ratio()
    return numerator * ((1 << _DYADIC_BITS) // denominator)


def shapley_from_utilities(n: int, utilities: Mapping[Coalition, float]) -> tuple[float, ...]:
    """The exact Shapley values from all 2**n coalition utilities (the pure formula, for verifiers)."""
    _check_players(n)
    by_mask: dict[int, float] = {}
    for coalition, utility in utilities.items():
        if any(not isinstance(p, (int, np.integer)) or not 0 <= p < n for p in coalition):
            raise RewardsError(
                f"coalition {sorted(coalition)} names a player outside 0..{n - 1}.", code="E_REWARDS_COALITION"
            )
        players = frozenset(int(p) for p in coalition)
        by_mask[coalition_mask(players)] = _finite(utility, players)
    if len(by_mask) != 2**n:
        missing = next(coalition_of(m, n) for m in range(2**n) if m not in by_mask)
        raise RewardsError(
            f"exact Shapley needs all {2**n} coalitions, got {len(by_mask)} (missing e.g. {sorted(missing)}).",
            code="E_REWARDS_COALITION",
        )
    # value_i = Σ_{T∋i} w(|T|−1)·U(T) − Σ_{S∌i} w(|S|)·U(S): only per-size sums are needed,
    # accumulated exactly as integers (utilities scaled by 2**1074).
    size_total = [0] * (n + 1)
    with_player = [[0] * (n + 1) for _ in range(n)]
    for mask, utility in by_mask.items():
        scaled, size = _dyadic_int(utility), mask.bit_count()
        size_total[size] += scaled
        rest = mask
        while rest:
            lowest = rest & -rest
            with_player[lowest.bit_length() - 1][size] += scaled
            rest ^= lowest
    weight = [Fraction(1, n * math.comb(n - 1, s)) for s in range(n)]  # |S|!(n−|S|−1)!/n!
    values = []
    for player in range(n):
        exact = Fraction(0)
        for size in range(n + 1):
            if size >= 1:
                exact += with_player[player][size] * weight[size - 1]
            if size <= n - 1:
                exact -= (size_total[size] - with_player[player][size]) * weight[size]
        values.append(float(exact / (1 << _DYADIC_BITS)))  # one correctly rounded conversion
    return tuple(values)


def exact_shapley(n: int, utility: Utility, *, progress: Progress | None = None) -> PlayerValues:
    """Exact Shapley values: every coalition evaluated once, in ascending bitmask order."""
    _check_players(n)
    memo = _Memo(utility, progress, 2**n)
    for mask in range(2**n):
        memo(coalition_of(mask, n))
    return PlayerValues(
        values=shapley_from_utilities(n, memo.utilities),
        standard_errors=(0.0,) * n,
        method=EXACT,
        fits=len(memo.utilities),
        permutations=0,
        utilities=memo.utilities,
        u_empty=memo.utilities[frozenset()],
        u_all=memo.utilities[frozenset(range(n))],
    )


def _marginals(order: Sequence[int], utility: Utility, u_empty: float, u_all: float, tolerance: float) -> list[float]:
    """One permutation's marginal contributions, by player; 0 after truncation."""
    marginals = [0.0] * len(order)
    members: set[int] = set()
    previous = u_empty
    for player in order:
        if abs(u_all - previous) < tolerance:
            break  # the rest of the permutation is worth about nothing: skip its fits
        members.add(player)
        current = utility(frozenset(members))
        marginals[player] = current - previous
        previous = current
    return marginals


def _summarise(n: int, rows: list[list[float]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean marginal and its standard error per player; fsum so the result is order-exact."""
    if not rows:
        if n:
            raise RewardsError("there are no permutations to average over.", code="E_REWARDS_COALITION")
        return (), ()
    m = len(rows)
    values, errors = [], []
    for column in zip(*rows):
        mean = math.fsum(column) / m
        values.append(mean)
        errors.append(math.inf if m == 1 else math.sqrt(math.fsum((x - mean) ** 2 for x in column) / (m - 1) / m))
    return tuple(values), tuple(errors)


def _check_sampling(n: int, max_fits: int, truncation: float, max_permutations: int) -> None:
    _check_players(n)
    if not 0.0 <= truncation < 1.0:
        raise RewardsError(
            f"truncation must be in [0, 1), got {truncation!r}; 0 disables it.", code="E_REWARDS_TRUNCATION"
        )
    if max_permutations < 1:
        raise RewardsError(f"max_permutations must be at least 1, got {max_permutations}.", code="E_REWARDS_BUDGET")
    if max_fits < n + 1:
        raise RewardsError(
            f"a fit budget of {max_fits} cannot sample one permutation of {n} players: it needs {n + 1} fits "
            f"(the empty and full coalitions and {max(n - 1, 0)} prefixes). Raise max_fits to at least {n + 1} "
            "or use fewer players.",
            code="E_REWARDS_BUDGET",
        )


def seeded_permutation(n: int, seed: int, index: int) -> tuple[int, ...]:
    """The ``index``-th sampled permutation of players 0..n-1 for ``seed``.

    Fisher-Yates, each swap position drawn as SHA-256("hokusai-permutation:<seed>:<index>:<i>")
    read as a 256-bit integer mod i + 1 (the modulo bias is below 2**-250): defined by this
    text alone, unlike a library generator's stream, so any verifier regenerates it.
    """
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        digest = hashlib.sha256(f"hokusai-permutation:{seed}:{index}:{i}".encode()).digest()
        j = int.from_bytes(digest, "big") % (i + 1)
        order[i], order[j] = order[j], order[i]
    return tuple(order)


def permutation_shapley(
    n: int,
    utility: Utility,
    *,
    max_fits: int,
    seed: int,
    truncation: float = 0.0,
    progress: Progress | None = None,
    max_permutations: int = DEFAULT_MAX_PERMUTATIONS,
) -> PlayerValues:
    """Truncated Monte Carlo Shapley values within ``max_fits`` distinct coalition fits."""
    _check_sampling(n, max_fits, truncation, max_permutations)
    memo = _Memo(utility, progress, max_fits)
    u_empty, u_all = memo(frozenset()), memo(frozenset(range(n)))
    tolerance = truncation * abs(u_all - u_empty)
    orders: list[tuple[int, ...]] = []
    rows: list[list[float]] = []
    while n and len(orders) < max_permutations:
        order = seeded_permutation(n, seed, len(orders))
        prefixes = (frozenset(order[:size]) for size in range(1, n))
        if len(memo.utilities) + sum(p not in memo.utilities for p in prefixes) > max_fits:
            break  # this permutation might not finish within the budget
        rows.append(_marginals(order, memo, u_empty, u_all, tolerance))
        orders.append(order)
    values, errors = _summarise(n, rows)
    return PlayerValues(
        values=values,
        standard_errors=errors,
        method=TRUNCATED_MONTE_CARLO,
        fits=len(memo.utilities),
        permutations=len(orders),
        utilities=memo.utilities,
        u_empty=u_empty,
        u_all=u_all,
        orders=tuple(orders),
        truncation=truncation,
    )


def leave_one_out_budget(max_fits: int, shapley_fits: int) -> int:
    """How many leave-one-out fits an epoch may add: ``rewards.max_fits`` bounds every fit,
    the Shapley values come first, the diagnostic gets what they leave."""
    return max(max_fits - shapley_fits, 0)


def shapley_values(
    n: int,
    utility: Utility,
    *,
    exact_max: int,
    max_fits: int,
    seed: int,
    truncation: float,
    progress: Progress | None = None,
    max_permutations: int = DEFAULT_MAX_PERMUTATIONS,
) -> PlayerValues:
    """Exact when n <= exact_max and all 2**n coalitions fit in the budget; sampled otherwise."""
    _check_players(n)
    if n <= exact_max and 2**n <= max_fits:
        return exact_shapley(n, utility, progress=progress)
    return permutation_shapley(
        n,
        utility,
        max_fits=max_fits,
        seed=seed,
        truncation=truncation,
        progress=progress,
        max_permutations=max_permutations,
    )
