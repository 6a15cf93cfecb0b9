"""DeltaOne: direction, weighting, basis points, acceptance and the paired bootstrap."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rfc8785

from hokusai_assets.lib.errors import EvaluationError
from hokusai_assets.lib.evaluation import delta as D
from hokusai_assets.lib.evaluation.delta import EvaluationPolicy, compute_delta, direction_aware_delta, score_to_bps
from hokusai_assets.lib.evaluation.metrics import Predictions, compute_metrics

approx = pytest.approx

REG_TRUE = np.array([1.0, 2.0, 3.0, 4.0])
REG_BASE = np.array([1.5, 2.0, 2.0, 5.0])  # mse 2.25/4, mae 2.5/4, r2 1 - 2.25/5
REG_NEW = np.array([1.0, 2.0, 3.0, 4.5])  # mse 0.25/4, mae 0.5/4, r2 1 - 0.25/5

TOP_KEYS = [
    "task_type", "average", "metric_deltas", "weights", "delta_one_score", "computation_method",
    "primary_metric", "primary_delta", "significance", "benchmark_rows", "min_improvement",
    "min_benchmark_rows", "accepted", "decision_reasons", "delta_one_bps",
]


def policy(**overrides) -> EvaluationPolicy:
    base = dict(metrics=("accuracy", "f1"), weights={}, primary_metric="accuracy", bootstrap_resamples=300)
    base.update(overrides)
    return EvaluationPolicy(**base)


def classifiers(n: int, base_acc: float, new_acc: float, seed: int = 0):
    """Two binary classifiers on the same n rows with roughly the given accuracies."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    flip = rng.random(n)
    base = np.where(flip < base_acc, y, 1 - y)
    new = np.where(flip < new_acc, y, 1 - y)  # same draws: new is right wherever base is
    return Predictions(y, base), Predictions(y, new)


def assert_json_ready(obj) -> None:
    if isinstance(obj, dict):
        assert all(isinstance(k, str) for k in obj)
        for v in obj.values():
            assert_json_ready(v)
    elif isinstance(obj, list):
        for v in obj:
            assert_json_ready(v)
    else:
        assert obj is None or type(obj) in (str, int, float, bool), type(obj)
        if type(obj) is float:
            assert math.isfinite(obj)


# --------------------------------------------------------------------------- direction


def test_higher_mse_is_a_degradation_lower_mse_an_improvement():
    # relative improvement (base - new) / base
    assert direction_aware_delta("mse", 4.0, 5.0) == approx(-0.25)
    assert direction_aware_delta("mse", 4.0, 3.0) == approx(0.25)
    assert direction_aware_delta("mae", 2.0, 0.0) == approx(1.0)
    assert direction_aware_delta("mape", 0.5, 0.5) == 0.0


def test_error_metric_with_zero_baseline():
    assert direction_aware_delta("mse", 0.0, 0.0) == 0.0
    assert direction_aware_delta("mse", 0.0, 0.1) == -1.0


def test_accuracy_is_symmetric_and_absolute():
    assert direction_aware_delta("accuracy", 0.80, 0.85) == approx(0.05)
    assert direction_aware_delta("accuracy", 0.85, 0.80) == approx(-0.05)


def test_r2_is_compared_absolutely():
    assert direction_aware_delta("r2", 0.5, 0.6) == approx(0.1)  # not the relative 0.2
    assert direction_aware_delta("r2", -0.5, 0.2) == approx(0.7)


def test_direction_aware_delta_unknown_metric():
    with pytest.raises(EvaluationError) as err:
        direction_aware_delta("rmse", 1.0, 2.0)
    assert err.value.code == "E_EVAL_UNKNOWN_METRIC"


def test_metric_deltas_for_a_worse_regression_model():
    pol = EvaluationPolicy(metrics=("mse", "r2"), weights={}, primary_metric="mse",
                           bootstrap_resamples=50, min_benchmark_rows=1)
    # "improved" is actually the worse model here
    result = compute_delta("regression", pol, Predictions(REG_TRUE, REG_NEW), Predictions(REG_TRUE, REG_BASE))
    mse = result["metric_deltas"]["mse"]
    assert mse["baseline_value"] == approx(0.25 / 4) and mse["new_value"] == approx(2.25 / 4)
    assert mse["absolute_delta"] == approx(2.0 / 4)
    assert mse["relative_delta"] == approx(2.0 / 0.25)
    assert mse["higher_is_better"] is False
    assert mse["improvement"] is False
    assert mse["direction_aware_delta"] == approx((0.25 - 2.25) / 0.25) and mse["direction_aware_delta"] < 0
    r2 = result["metric_deltas"]["r2"]
    assert r2["improvement"] is False
    assert r2["direction_aware_delta"] == approx((1 - 2.25 / 5) - (1 - 0.25 / 5))
    assert result["accepted"] is False and result["delta_one_bps"] == 0


# --------------------------------------------------------------------------- score


def test_delta_one_score_weighting_by_hand():
    pol = EvaluationPolicy(metrics=("mse", "mae", "r2"), weights={"mse": 2.0, "mae": 1.0},
                           primary_metric="mse", bootstrap_resamples=200)
    result = compute_delta("regression", pol, Predictions(REG_TRUE, REG_BASE), Predictions(REG_TRUE, REG_NEW))
    # weights 2, 1, 1 (r2 defaults to 1) -> 1/2, 1/4, 1/4
    assert result["weights"] == {"mse": approx(0.5), "mae": approx(0.25), "r2": approx(0.25)}
    # mse: (2.25/4 - 0.25/4) / (2.25/4) = 8/9   (relative)
    # mae: (2.5/4 - 0.5/4) / (2.5/4)   = 4/5   (relative)
    # r2:  (1 - 0.25/5) - (1 - 2.25/5) = 2/5   (absolute)
    assert result["metric_deltas"]["mse"]["direction_aware_delta"] == approx(8 / 9)
    assert result["metric_deltas"]["mae"]["direction_aware_delta"] == approx(4 / 5)
    assert result["metric_deltas"]["r2"]["direction_aware_delta"] == approx(2 / 5)
    assert result["delta_one_score"] == approx(0.5 * 8 / 9 + 0.25 * 4 / 5 + 0.25 * 2 / 5)
    assert result["computation_method"] == "weighted_average_delta"
    assert result["primary_delta"] == approx(8 / 9)
    # Only 4 rows: rejected for that reason, so no basis points.
    assert result["accepted"] is False
    assert result["delta_one_bps"] == 0
    assert any("min_benchmark_rows" in r for r in result["decision_reasons"])
    assert result["significance"]["mcnemar"] is None


def test_bps_rounds_half_to_even():
    # Preconditions: these products are exactly .5 in binary floating point.
    assert 0.00025 * 10_000 == 2.5 and 0.00035 * 10_000 == 3.5 and 0.00125 * 10_000 == 12.5
    assert score_to_bps(0.00025) == 2
    assert score_to_bps(0.00035) == 4
    assert score_to_bps(0.00125) == 12
    assert score_to_bps(-0.00025) == -2
    assert score_to_bps(0.123456) == 1235
    assert type(score_to_bps(0.1)) is int


def test_accepted_result_carries_bps_of_the_score():
    base, new = classifiers(400, 0.70, 0.85)
    result = compute_delta("classification", policy(), base, new)
    assert result["accepted"] is True
    assert result["decision_reasons"] == ["all acceptance conditions met"]
    assert result["delta_one_bps"] == round(result["delta_one_score"] * 10_000)
    assert result["delta_one_bps"] > 0


# --------------------------------------------------------------------------- acceptance


def test_too_few_rows_is_rejected_with_that_reason():
    base, new = classifiers(60, 0.5, 0.95)
    result = compute_delta("classification", policy(min_benchmark_rows=100), base, new)
    assert result["significance"]["ci_lower"] > 0
    assert result["accepted"] is False and result["delta_one_bps"] == 0
    assert len(result["decision_reasons"]) == 1
    assert "min_benchmark_rows" in result["decision_reasons"][0]
    assert "60 rows" in result["decision_reasons"][0]


def test_identical_models_are_rejected_because_the_ci_includes_zero():
    base, _ = classifiers(300, 0.8, 0.8)
    result = compute_delta("classification", policy(), base, base)
    sig = result["significance"]
    assert sig["ci_lower"] == 0.0 and sig["ci_upper"] == 0.0
    assert sig["p_value"] == 1.0  # every resampled delta is <= 0: (1 + B) / (B + 1)
    assert sig["mcnemar"] == {"baseline_only_correct": 0, "improved_only_correct": 0, "p_value": 1.0}
    assert result["accepted"] is False and result["delta_one_bps"] == 0
    assert len(result["decision_reasons"]) == 1
    assert "confidence interval" in result["decision_reasons"][0]


def test_below_min_improvement_is_rejected_with_that_reason():
    base, new = classifiers(400, 0.70, 0.85)
    result = compute_delta("classification", policy(min_improvement=0.5), base, new)
    assert result["significance"]["ci_lower"] > 0
    assert result["accepted"] is False and result["delta_one_bps"] == 0
    assert len(result["decision_reasons"]) == 1
    assert "min_improvement" in result["decision_reasons"][0]


def test_every_failed_condition_is_listed():
    base, _ = classifiers(20, 0.8, 0.8)
    result = compute_delta("classification", policy(min_improvement=0.01), base, base)
    reasons = " | ".join(result["decision_reasons"])
    assert len(result["decision_reasons"]) == 3
    for word in ("confidence interval", "min_improvement", "min_benchmark_rows"):
        assert word in reasons


# --------------------------------------------------------------------------- significance


def test_clearly_better_model_has_positive_lower_bound():
    base, new = classifiers(300, 0.6, 0.9)
    sig = compute_delta("classification", policy(), base, new)["significance"]
    assert sig["method"] == "paired_bootstrap" and sig["resamples"] == 300
    assert 0 < sig["ci_lower"] < sig["ci_upper"]
    assert sig["p_value"] == approx(1 / 301)  # no resample had delta <= 0


def test_bootstrap_is_paired_and_matches_a_direct_loop():
    # Re-derive the interval the slow way: same counts for both models, weighted metrics.
    rng0 = np.random.default_rng(11)
    y = rng0.integers(0, 3, 40)
    base = Predictions(y, np.where(rng0.random(40) < 0.6, y, (y + 1) % 3))
    new = Predictions(y, np.where(rng0.random(40) < 0.8, y, (y + 2) % 3))
    pol = policy(metrics=("f1",), primary_metric="f1", bootstrap_resamples=40, bootstrap_seed=9,
                 confidence=0.9, average="weighted")
    sig = compute_delta("classification", pol, base, new)["significance"]

    rng = np.random.Generator(np.random.PCG64(9))
    counts = rng.multinomial(40, [1 / 40] * 40, size=40)
    deltas = np.array([
        compute_metrics("classification", ["f1"], new, "weighted", sample_weight=c)["f1"]
        - compute_metrics("classification", ["f1"], base, "weighted", sample_weight=c)["f1"]
        for c in counts
    ])
    assert sig["ci_lower"] == approx(np.percentile(deltas, 5))
    assert sig["ci_upper"] == approx(np.percentile(deltas, 95))
    assert sig["p_value"] == approx((1 + np.sum(deltas <= 0)) / 41)


def test_block_size_does_not_change_the_bootstrap(monkeypatch):
    base, new = classifiers(120, 0.7, 0.8)
    whole = compute_delta("classification", policy(), base, new)
    monkeypatch.setattr(D, "_MAX_CELLS_PER_BLOCK", 120 * 7)  # blocks of 7 resamples
    assert compute_delta("classification", policy(), base, new) == whole


def test_same_seed_same_bytes_different_seed_different_ci():
    base, new = classifiers(200, 0.7, 0.78)
    first = compute_delta("classification", policy(), base, new)
    second = compute_delta("classification", policy(), base, new)
    assert rfc8785.dumps(first) == rfc8785.dumps(second)
    other = compute_delta("classification", policy(bootstrap_seed=1), base, new)
    assert (other["significance"]["ci_lower"], other["significance"]["ci_upper"]) != (
        first["significance"]["ci_lower"], first["significance"]["ci_upper"])


def test_mcnemar_counts_by_hand():
    y = np.array([0, 0, 1, 1, 1, 1])
    base = Predictions(y, np.array([0, 1, 1, 0, 0, 1]))  # right on rows 0, 2, 5
    new = Predictions(y, np.array([1, 1, 1, 1, 1, 1]))  # right on rows 2, 3, 4, 5
    mc = compute_delta("classification", policy(bootstrap_resamples=20), base, new)["significance"]["mcnemar"]
    # baseline only: row 0 -> b = 1; improved only: rows 3, 4 -> c = 2
    # exact two-sided binomial, 2 of 3 at p = 1/2: P(X<=1)+P(X>=2) = 1
    assert mc == {"baseline_only_correct": 1, "improved_only_correct": 2, "p_value": approx(1.0)}
    new2 = Predictions(y, np.array([0, 0, 1, 1, 1, 1]))  # right everywhere: b = 0, c = 3
    mc2 = compute_delta("classification", policy(bootstrap_resamples=20), base, new2)["significance"]["mcnemar"]
    assert mc2["improved_only_correct"] == 3 and mc2["p_value"] == approx(2 * 0.5**3)


# --------------------------------------------------------------------------- shape


def test_result_is_json_ready_with_exact_keys():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    proba_b = np.clip(y * 0.3 + rng.random(150) * 0.7, 0, 1)
    proba_n = np.clip(y * 0.6 + rng.random(150) * 0.4, 0, 1)
    base = Predictions(y, (proba_b > 0.5).astype(int), np.c_[1 - proba_b, proba_b], np.array([0, 1]))
    new = Predictions(y, (proba_n > 0.5).astype(int), np.c_[1 - proba_n, proba_n], np.array([0, 1]))
    pol = policy(metrics=("accuracy", "precision", "recall", "f1", "auroc"), primary_metric="auroc",
                 bootstrap_resamples=100)
    result = compute_delta("classification", pol, base, new)
    assert list(result) == TOP_KEYS
    assert list(result["metric_deltas"]) == list(pol.metrics)
    assert set(result["metric_deltas"]["auroc"]) == {
        "baseline_value", "new_value", "absolute_delta", "relative_delta", "higher_is_better",
        "improvement", "direction_aware_delta"}
    assert set(result["significance"]) == {
        "method", "resamples", "seed", "confidence", "ci_lower", "ci_upper", "p_value", "mcnemar"}
    assert sum(result["weights"].values()) == approx(1.0)
    assert_json_ready(result)
    json.dumps(result, allow_nan=False)


def test_relative_delta_is_none_for_a_zero_baseline():
    y = np.array([0.0, 1.0, 2.0])
    pol = EvaluationPolicy(metrics=("mae",), weights={}, primary_metric="mae", bootstrap_resamples=10)
    result = compute_delta("regression", pol, Predictions(y, y), Predictions(y, y + 1))
    mae = result["metric_deltas"]["mae"]
    assert mae["relative_delta"] is None
    assert mae["direction_aware_delta"] == -1.0 and mae["improvement"] is False
    assert_json_ready(result)


# --------------------------------------------------------------------------- errors


def test_misaligned_benchmarks_are_rejected():
    base, new = classifiers(50, 0.7, 0.8)
    other = Predictions(1 - new.y_true, new.y_pred)
    with pytest.raises(EvaluationError) as err:
        compute_delta("classification", policy(), base, other)
    assert err.value.code == "E_EVAL_MISALIGNED"
    with pytest.raises(EvaluationError) as err:
        compute_delta("classification", policy(), base, Predictions(new.y_true[:-1], new.y_pred[:-1]))
    assert err.value.code == "E_EVAL_MISALIGNED"


@pytest.mark.parametrize("weights", [{"accuracy": -1.0}, {"accuracy": 0.0, "f1": 0.0},
                                     {"accuracy": float("nan")}, {"auroc": 1.0}])
def test_bad_weights(weights):
    with pytest.raises(EvaluationError) as err:
        policy(weights=weights)
    assert err.value.code == "E_EVAL_BAD_WEIGHTS"


def test_zero_weight_on_one_metric_is_allowed():
    pol = policy(weights={"f1": 0.0})
    assert pol.normalised_weights() == {"accuracy": 1.0, "f1": 0.0}


def test_policy_validation():
    with pytest.raises(EvaluationError):
        policy(primary_metric="auroc")  # not configured
    with pytest.raises(EvaluationError):
        policy(average="micro")
    with pytest.raises(EvaluationError):
        policy(confidence=1.0)
    with pytest.raises(EvaluationError):
        policy(bootstrap_resamples=0)
    with pytest.raises(EvaluationError) as err:
        policy(metrics=("accuracy", "rmse"))
    assert err.value.code == "E_EVAL_UNKNOWN_METRIC"


def test_metric_of_the_wrong_task_type_is_rejected():
    pol = EvaluationPolicy(metrics=("mse",), weights={}, primary_metric="mse")
    base, new = classifiers(50, 0.7, 0.8)
    with pytest.raises(EvaluationError) as err:
        compute_delta("classification", pol, base, new)
    assert err.value.code == "E_EVAL_UNKNOWN_METRIC"
