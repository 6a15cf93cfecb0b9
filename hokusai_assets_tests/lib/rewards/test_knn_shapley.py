"""KNN-Shapley: the closed form against brute-force Shapley of the KNN utility, and harmful rows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hokusai_assets.lib.rewards import knn_shapley as knn_module
from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.knn_shapley import knn_shapley, most_harmful


def knn_utility(train_X, train_y, test_X, test_y, k):
    """U(S): mean over test points of (1/K)·#{the min(K, |S|) nearest rows of S with the test label}."""

    def utility(coalition: frozenset[int]) -> float:
        total = 0.0
        for point, label in zip(test_X, test_y):
            squared = {i: sum((float(a) - float(b)) ** 2 for a, b in zip(train_X[i], point)) for i in coalition}
            nearest = sorted(coalition, key=lambda i: (squared[i], i))[:k]
            total += sum(1 for i in nearest if train_y[i] == label) / k
        return total / len(test_X)

    return utility


def brute_force_shapley(n: int, utility) -> list[float]:
    """Mean marginal contribution over all n! orderings, on a table of all 2**n utilities."""
    table = {
        frozenset(c): utility(frozenset(c)) for size in range(n + 1) for c in itertools.combinations(range(n), size)
    }
    totals = [0.0] * n
    orderings = list(itertools.permutations(range(n)))
    for ordering in orderings:
        members: frozenset[int] = frozenset()
        for player in ordering:
            grown = members | {player}
            totals[player] += table[grown] - table[members]
            members = grown
    return [t / len(orderings) for t in totals]


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_equals_brute_force_on_a_small_random_set(k):
    rng = np.random.default_rng(k)
    train_X, train_y = rng.normal(size=(7, 2)), rng.integers(0, 2, size=7)
    test_X, test_y = rng.normal(size=(3, 2)), np.array([0, 1, 1])
    expected = brute_force_shapley(7, knn_utility(train_X, train_y, test_X, test_y, k))
    values = knn_shapley(train_X, train_y, test_X, test_y, k)
    assert values.dtype == np.float64 and values.shape == (7,)
    assert values == pytest.approx(expected, abs=1e-12, rel=0)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 6),
    m=st.integers(1, 3),
    d=st.integers(1, 2),
    k=st.integers(1, 4),
    data=st.data(),
)
def test_equals_brute_force_including_ties_and_string_labels(n, m, d, k, data):
    # Small integer features make equal distances (and duplicate rows) common: ties go to the lower row index.
    coords = st.lists(st.integers(-2, 2), min_size=d, max_size=d)
    train_X = np.array(data.draw(st.lists(coords, min_size=n, max_size=n)), dtype=float)
    test_X = np.array(data.draw(st.lists(coords, min_size=m, max_size=m)), dtype=float)
    labels = st.sampled_from(["cat", "dog", "eel"])
    train_y = np.array(data.draw(st.lists(labels, min_size=n, max_size=n)))
    test_y = np.array(data.draw(st.lists(labels, min_size=m, max_size=m)))
    expected = brute_force_shapley(n, knn_utility(train_X, train_y, test_X, test_y, k))
    values = knn_shapley(train_X, train_y, test_X, test_y, k)
    assert values == pytest.approx(expected, abs=1e-12, rel=0)
    # Efficiency: the values add up to U(all rows) − U(∅) = U(all rows).
    everyone = knn_utility(train_X, train_y, test_X, test_y, k)(frozenset(range(n)))
    assert abs(values.sum() - everyone) <= 1e-12


def blobs(seed: int, per_class: int):
    rng = np.random.default_rng(seed)
    X = np.concatenate(
        [rng.normal((-2.0, 0.0), 0.6, size=(per_class, 2)), rng.normal((2.0, 0.0), 0.6, size=(per_class, 2))]
    )
    y = np.repeat([0, 1], per_class)
    return X, y


def test_a_flipped_label_gets_the_most_negative_value_and_is_flagged():
    train_X, train_y = blobs(seed=0, per_class=30)
    test_X, test_y = blobs(seed=1, per_class=50)
    noisy_y = train_y.copy()
    noisy_y[7] = 1  # a class-0 point labelled 1
    values = knn_shapley(train_X, noisy_y, test_X, test_y, k=5)
    assert int(np.argmin(values)) == 7 and values[7] < 0
    clean = np.delete(values, 7)
    assert values[7] < clean.min()
    groups = ["alice"] * 30 + ["bob"] * 30
    flagged = most_harmful(values, groups, top=1)
    assert flagged["alice"] == [7]
    assert all(values[i] < 0 for i in flagged["bob"])


def test_chunking_and_reruns_do_not_change_the_values(monkeypatch):
    train_X, train_y = blobs(seed=2, per_class=20)
    test_X, test_y = blobs(seed=3, per_class=15)
    whole = knn_shapley(train_X, train_y, test_X, test_y, k=3)
    assert whole.tobytes() == knn_shapley(train_X, train_y, test_X, test_y, k=3).tobytes()
    monkeypatch.setattr(knn_module, "CHUNK_BYTES", 1)  # one test point per chunk
    one_by_one = knn_shapley(train_X, train_y, test_X, test_y, k=3)
    assert one_by_one == pytest.approx(whole, abs=1e-14, rel=0)


def test_regression_is_refused_with_a_pointer_to_the_coalition_values():
    X, y = blobs(seed=0, per_class=3)
    with pytest.raises(RewardsError) as refused:
        knn_shapley(X, y.astype(float), X, y.astype(float), 3, task="regression")
    assert refused.value.code == "E_REWARDS_KNN_TASK" and "classification" in refused.value.message


@pytest.mark.parametrize(
    "change",
    [
        dict(k=0),
        dict(train_y=np.array([0, 1])),
        dict(test_X=np.zeros((2, 3))),
        dict(train_X=np.array([[0.0, np.nan]] * 6)),
        dict(test_X=np.zeros((0, 2)), test_y=np.zeros(0)),
    ],
)
def test_malformed_inputs_are_refused(change):
    X, y = blobs(seed=0, per_class=3)
    arguments = dict(train_X=X, train_y=y, test_X=X[:2], test_y=y[:2], k=3)
    arguments.update(change)
    with pytest.raises(RewardsError) as refused:
        knn_shapley(**arguments)
    assert refused.value.code == "E_REWARDS_KNN_INPUT"


def test_most_harmful_takes_the_lowest_negative_values_per_group_ties_by_index():
    values = np.array([-1.0, -1.0, 0.5, -2.0, 0.0, -0.5, -3.0, -1.0])
    groups = ["g", "g", "g", "g", "h", "h", "k", "g"]
    assert most_harmful(values, groups, top=2) == {"g": [3, 0], "h": [5], "k": [6]}
    assert most_harmful(values, groups, top=3) == {"g": [3, 0, 1], "h": [5], "k": [6]}
    assert most_harmful(values, groups, top=0) == {"g": [], "h": [], "k": []}
    assert most_harmful(np.array([0.0, 1.0]), ["a", "b"], top=5) == {"a": [], "b": []}
    with pytest.raises(RewardsError):
        most_harmful(values, groups[:-1], top=1)
