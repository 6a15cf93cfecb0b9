"""pyDVL's exact grouped Shapley values on *our* utility, to print beside ours in a benchmark.

Written against pyDVL 0.10.0 (``pydvl.valuation``, the API introduced in 0.10).

What is pyDVL's and what is ours
--------------------------------
* Ours: the utility ``utility(S)`` of a coalition ``S`` of players ``0..n-1`` (whatever
  trains a model and scores it; the caller usually memoises it).
* pyDVL's: everything else. The players become the groups of a
  ``pydvl.valuation.GroupedDataset`` (two rows per player, each row carrying its
  player id), and the values come from ``ShapleyValuation`` with a
  ``DeterministicUniformSampler`` and ``NoStopping(sampler)``: pyDVL enumerates, for every
  group ``i``, every subset ``S`` of the other groups, maps the group indices to data rows,
  asks a ``ModelUtility`` for ``U(S + {i}) - U(S)``, weights it with its own Shapley
  coefficient (in log space) and averages. That is the combinatorial exact Shapley value.
  Our only bridge is a "model" whose ``fit(X, y)`` reads which players' rows pyDVL handed
  it and whose scorer returns ``utility(frozenset(players))``.

pyDVL calls the utility twice per (group, subset) pair, ``n * 2**n`` calls for ``n``
players, of which only ``2**n`` are distinct: this module keeps its own dict of them, so
an unmemoised utility is also called once per coalition.

Installing pyDVL beside the pinned stack
----------------------------------------
``pip install pydvl`` (0.10.0) declares ``numpy<2`` and would downgrade our numpy 2.x to
1.26.4; pyDVL <= 0.9.2 declare no cap but fail at import on numpy 2 (``np.float_``). The
``pydvl.valuation`` code used here runs on numpy 2, so install it and its own dependencies
with ``--no-deps`` into a separate folder and put that on ``PYTHONPATH``; nothing in
``.venv`` changes::

    .venv/bin/pip install --target /tmp/pydvl-target --no-deps \\
        pydvl==0.10.0 pyDeprecate==0.14.0 more-itertools==11.2.1 psutil==7.2.2 \\
        cvxpy==1.9.3 osqp==1.1.3 clarabel==0.11.1 scs==3.3.1 highspy==1.16.0 \\
        qdldl==0.1.9.post1 sparsediffpy==0.6.1
    PYTHONPATH=/tmp/pydvl-target .venv/bin/python benchmarks/bench_rewards.py

(cvxpy and its solvers are imported by ``pydvl.valuation`` itself, not used here.)

pyDVL is imported lazily, inside the functions: importing this module never needs it.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

__all__ = ["grouped_exact_shapley", "pydvl_available", "pydvl_unavailable_reason"]

WRITTEN_AGAINST = "0.10.0"
_ROWS_PER_PLAYER = 2  # >1 so that pyDVL's group -> rows mapping is really exercised


def _import_pydvl():
    """Imports the parts of pyDVL used here; raises ImportError (or whatever the import raised)."""
    with warnings.catch_warnings():
        # pyDeprecate and pyDVL emit FutureWarnings/DeprecationWarnings at import time.
        warnings.simplefilter("ignore")
        import pydvl
        import pydvl.valuation  # noqa: F401  (the 0.10 API; absent before 0.10)
    return pydvl


def pydvl_unavailable_reason() -> str | None:
    """None if pyDVL's ``pydvl.valuation`` API imports here, else a one-line reason."""
    try:
        _import_pydvl()
    except Exception as error:  # ImportError, or e.g. AttributeError from numpy 2 in pyDVL <= 0.9
        return f"{type(error).__name__}: {error}"
    return None


def pydvl_available() -> str | None:
    """pyDVL's version if its ``pydvl.valuation`` API is importable here, else None."""
    try:
        pydvl = _import_pydvl()
    except Exception:
        return None
    return str(getattr(pydvl, "__version__", "unknown"))


def grouped_exact_shapley(n_players: int, utility: Callable[[frozenset[int]], float]) -> list[float]:
    """Exact Shapley values of players ``0..n_players-1``, computed by pyDVL on our ``utility``.

    ``utility(S)`` takes a frozenset of player ids (Python ints) and returns a float;
    ``utility(frozenset())`` is the empty coalition's utility. Returns one value per
    player, in player order. Runs in this process and thread (joblib "threading"
    backend with one job), so the caller's memo is shared and nothing is pickled.
    """
    if n_players < 0:
        raise ValueError(f"n_players must be >= 0, got {n_players}")
    if n_players == 0:
        return []

    import numpy as np
    from joblib import parallel_config

    _import_pydvl()
    from pydvl.valuation import (
        DeterministicUniformSampler,
        GroupedDataset,
        ModelUtility,
        NoStopping,
        ShapleyValuation,
    )
    from pydvl.valuation.scorers import Scorer

    memo: dict[frozenset[int], float] = {}

    def u(players: frozenset[int]) -> float:
        if players not in memo:
            memo[players] = float(utility(players))
        return memo[players]

    class _CoalitionModel:
        """pyDVL's "model": fit() notes which players' rows it got; the scorer asks our utility."""

        players: frozenset[int] | None = None

        def fit(self, x, y=None):
            ids, counts = np.unique(np.asarray(x)[:, 0].astype(int), return_counts=True)
            if not np.all(counts == _ROWS_PER_PLAYER):  # pyDVL must hand over whole groups
                raise RuntimeError(f"pyDVL passed partial groups: players {ids.tolist()}, rows {counts.tolist()}")
            self.players = frozenset(int(i) for i in ids)
            return self

    class _OurUtilityScorer(Scorer):
        name = "hokusai utility"

        def __init__(self, default: float):
            # ModelUtility returns `default` for the empty coalition without calling fit().
            self.default = default
            self.range = (-math.inf, math.inf)

        def __call__(self, model: _CoalitionModel) -> float:
            if model.players is None:
                raise RuntimeError("score() before fit()")
            value = u(model.players)
            if math.isnan(value):  # ModelUtility would silently swap a NaN for `default`
                raise ValueError(f"utility of {sorted(model.players)} is NaN")
            return value

    player_of_row = np.repeat(np.arange(n_players), _ROWS_PER_PLAYER)
    data = GroupedDataset(
        x=player_of_row.reshape(-1, 1).astype(float),
        y=np.zeros(len(player_of_row)),
        data_groups=player_of_row,
        group_names=[f"player {i}" for i in range(n_players)],
    )
    model_utility = ModelUtility(
        _CoalitionModel(),
        _OurUtilityScorer(default=u(frozenset())),
        catch_errors=False,  # an error in our utility must surface, not become a default score
        show_warnings=True,
        clone_before_fit=False,  # cloning would deep-copy the caller's utility (and its memo)
    )
    sampler = DeterministicUniformSampler()
    valuation = ShapleyValuation(model_utility, sampler, is_done=NoStopping(sampler), progress=False)
    with parallel_config(backend="threading", n_jobs=1):
        valuation.fit(data)
    result = valuation.result

    values: list[float | None] = [None] * n_players
    for index, value in zip(result.indices, result.values):
        values[int(index)] = float(value)
    if any(v is None for v in values) or len(memo) != 2**n_players:
        raise RuntimeError(
            f"pyDVL valued {sum(v is not None for v in values)}/{n_players} players "
            f"on {len(memo)}/{2**n_players} coalitions"
        )
    expected = n_players * 2 ** (n_players - 1)  # one update per (player, subset of the others)
    if int(np.sum(result.counts)) != expected:
        raise RuntimeError(f"pyDVL made {int(np.sum(result.counts))} updates, expected {expected}")
    return [float(v) for v in values]  # type: ignore[arg-type]
