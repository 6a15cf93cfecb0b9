"""Per-row KNN-Shapley values, and the rows each group would be better off without.

Owns the closed form of Jia et al. 2019, "Efficient Task-Specific Data Valuation for
Nearest Neighbor Algorithms" (PVLDB 12(11), Theorem 1): for an unweighted K-nearest-neighbour
classifier whose utility on one test point (x_t, y_t) is
U(S) = (1/K) · #{the min(K, |S|) rows of S nearest to x_t whose label is y_t}, U(∅) = 0,
sort the N training rows by distance to x_t (α_1 nearest) and

    s_{α_N} = 1[y_{α_N} = y_t] · min(K, N) / (N · K)     (the paper's 1/N assumes N >= K)
    s_{α_i} = s_{α_{i+1}} + (1[y_{α_i} = y_t] − 1[y_{α_{i+1}} = y_t]) / K · min(K, i) / i

is each row's exact Shapley value for that test point; a row's value is the mean over the
test points (the utility is their mean, and the Shapley value is linear). O(N log N) per
test point instead of 2**N fits, which is what makes it usable per row, to flag the rows
(mislabelled, off-distribution) whose presence lowers the score.

Determinism: distances are squared Euclidean, summed feature by feature from explicit
differences (no BLAS ‖a‖² + ‖b‖² − 2ab trick, whose rounding can depend on the thread
count); ties sort by training-row index (a stable sort), so the order — and the values —
are the same on every machine. Test points are processed in chunks of bounded memory.
Only classification: the paper's regression form is not implemented here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hokusai_assets.lib.rewards.errors import RewardsError

CHUNK_BYTES = 64 * 2**20  # working memory per chunk of test points
_ARRAYS_PER_CHUNK = 8  # (chunk × N) arrays alive at once: distances, order, matches, steps, …


def _features(X: np.ndarray, name: str) -> np.ndarray:
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RewardsError(
            f"{name} must be numeric features ({exc}); encode categories first.", code="E_REWARDS_KNN_INPUT"
        ) from exc
    if X.ndim != 2:
        raise RewardsError(
            f"{name} must be a 2-D array (rows × features), got shape {X.shape}.", code="E_REWARDS_KNN_INPUT"
        )
    if not np.all(np.isfinite(X)):
        raise RewardsError(
            f"{name} has NaN or infinite features; impute or drop them before valuing rows.", code="E_REWARDS_KNN_INPUT"
        )
    return X


def _labels(y: np.ndarray, rows: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != rows:
        raise RewardsError(
            f"{name} must hold one label per row ({rows}), got shape {y.shape}.", code="E_REWARDS_KNN_INPUT"
        )
    return y


def knn_shapley(
    train_X: np.ndarray,
    train_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    k: int,
    *,
    task: str = "classification",
) -> np.ndarray:
    """Each training row's KNN-Shapley value (float64), averaged over the test points."""
    if task != "classification":
        raise RewardsError(
            f"KNN-Shapley is implemented for classification tasks only, not {task!r}: value regression rows "
            "with the coalition Shapley values (exact or truncated Monte Carlo) instead.",
            code="E_REWARDS_KNN_TASK",
        )
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise RewardsError(f"k must be an integer >= 1, got {k!r}.", code="E_REWARDS_KNN_INPUT")
    train_X, test_X = _features(train_X, "train_X"), _features(test_X, "test_X")
    n, m = len(train_X), len(test_X)
    train_y, test_y = _labels(train_y, n, "train_y"), _labels(test_y, m, "test_y")
    if train_X.shape[1] != test_X.shape[1]:
        raise RewardsError(
            f"train_X has {train_X.shape[1]} features and test_X {test_X.shape[1]}; they must match.",
            code="E_REWARDS_KNN_INPUT",
        )
    if m == 0:
        raise RewardsError("there are no test points to value the rows against.", code="E_REWARDS_KNN_INPUT")
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    k = int(k)
    rank = np.arange(1, n, dtype=np.float64)  # i = 1 .. N−1, the 1-based position α_i
    step_scale = np.minimum(k, rank) / (rank * k)  # min(K, i) / (i · K)
    farthest_scale = min(k, n) / (n * k)  # 1/N as in the paper when N >= K; 1/K when N < K
    chunk = max(1, CHUNK_BYTES // (n * 8 * _ARRAYS_PER_CHUNK))
    total = np.zeros(n, dtype=np.float64)
    for start in range(0, m, chunk):
        points, labels = test_X[start : start + chunk], test_y[start : start + chunk]
        distance = np.zeros((len(points), n), dtype=np.float64)
        for feature in range(train_X.shape[1]):
            difference = points[:, feature, None] - train_X[None, :, feature]
            distance += difference * difference
        order = np.argsort(distance, axis=1, kind="stable")  # nearest first; ties by row index
        match = (train_y[order] == labels[:, None]).astype(np.float64)
        # Run the recursion from the farthest row inwards as one cumulative sum, in the
        # theorem's own order: s_N first, then s_{N−1} = s_N + step_{N−1}, …
        steps = (match[:, :-1] - match[:, 1:]) * step_scale
        farthest_first = np.concatenate([match[:, -1:] * farthest_scale, steps[:, ::-1]], axis=1)
        by_rank = np.cumsum(farthest_first, axis=1)[:, ::-1]
        by_row = np.empty_like(by_rank)
        np.put_along_axis(by_row, order, by_rank, axis=1)
        total += by_row.sum(axis=0)
    return total / m


def most_harmful(values: np.ndarray, groups: Sequence[str], top: int) -> dict[str, list[int]]:
    """Per group, the indices of its ``top`` lowest-valued rows whose value is negative.

    Lowest value first, ties by row index. Every group appears, with an empty list when
    none of its rows has a negative value.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(groups) != len(values):
        raise RewardsError(
            f"need one group per value: {len(groups)} group(s) for values of shape {values.shape}.",
            code="E_REWARDS_KNN_INPUT",
        )
    if not np.all(np.isfinite(values)):
        raise RewardsError("row values must be finite numbers.", code="E_REWARDS_KNN_INPUT")
    if not isinstance(top, (int, np.integer)) or top < 0:
        raise RewardsError(f"top must be an integer >= 0, got {top!r}.", code="E_REWARDS_KNN_INPUT")
    harmful: dict[str, list[int]] = {group: [] for group in sorted(set(groups))}
    for row in np.lexsort((np.arange(len(values)), values)):  # by value, then by index
        if values[row] >= 0:
            break
        rows = harmful[groups[row]]
        if len(rows) < top:
            rows.append(int(row))
    return harmful
