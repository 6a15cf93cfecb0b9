"""Metrics: hand-computed values on tiny arrays, agreement with scikit-learn on random
data, and the vectorised bootstrap path against the weighted reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
from sklearn import metrics as skm

from hokusai_assets.lib.errors import EvaluationError
from hokusai_assets.lib.evaluation.metrics import (
    CLASSIFICATION_METRICS,
    ERROR_METRICS,
    HIGHER_IS_BETTER,
    REGRESSION_METRICS,
    Predictions,
    check_metric_names,
    compute_metrics,
    metrics_table,
)
from hokusai_assets.lib.evaluation.resampled import metric_on_resamples

approx = pytest.approx

# --------------------------------------------------------------------------- fixtures

# Binary, 6 rows. Confusion (rows true, cols pred):  true 0: [1, 1]   true 1: [2, 2]
BIN_TRUE = np.array([0, 0, 1, 1, 1, 1])
BIN_PRED = np.array([0, 1, 1, 1, 0, 0])
BIN_SCORE = np.array([0.1, 0.6, 0.7, 0.4, 0.3, 0.8])  # P(class 1)

# 3 classes, 6 rows.
MC_TRUE = np.array([0, 0, 0, 1, 1, 2])
MC_PRED = np.array([0, 1, 0, 1, 2, 2])
MC_PROBA = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.3, 0.4, 0.3],
        [0.6, 0.1, 0.3],
        [0.2, 0.5, 0.3],
        [0.1, 0.3, 0.6],
        [0.2, 0.2, 0.6],
    ]
)

# Regression, 4 rows.
REG_TRUE = np.array([1.0, 2.0, 3.0, 4.0])
REG_PRED = np.array([1.5, 2.0, 2.0, 5.0])


def binary_preds() -> Predictions:
    return Predictions(BIN_TRUE, BIN_PRED, np.c_[1 - BIN_SCORE, BIN_SCORE], np.array([0, 1]))


def multiclass_preds() -> Predictions:
    return Predictions(MC_TRUE, MC_PRED, MC_PROBA, np.array([0, 1, 2]))


def random_classification(rng: np.random.Generator, n: int, k: int) -> Predictions:
    y_true = rng.integers(0, k, n)
    y_true[:k] = np.arange(k)  # every class present
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), y_true] += 0.5  # some signal
    proba /= proba.sum(axis=1, keepdims=True)
    y_pred = np.where(rng.random(n) < 0.3, rng.integers(0, k, n), proba.argmax(axis=1))
    return Predictions(y_true, y_pred, proba, np.arange(k))


def random_regression(rng: np.random.Generator, n: int) -> Predictions:
    y_true = rng.normal(3.0, 2.0, n)
    return Predictions(y_true, y_true + rng.normal(0, 1.0, n))


# --------------------------------------------------------------------------- constants


def test_metric_constants():
    assert CLASSIFICATION_METRICS == ("accuracy", "precision", "recall", "f1", "auroc")
    assert REGRESSION_METRICS == ("mse", "mae", "r2", "mape")
    assert ERROR_METRICS == frozenset({"mse", "mae", "mape"})
    assert {m for m, hib in HIGHER_IS_BETTER.items() if not hib} == ERROR_METRICS
    assert set(HIGHER_IS_BETTER) == set(CLASSIFICATION_METRICS) | set(REGRESSION_METRICS)


# --------------------------------------------------------------------------- by hand


def test_binary_metrics_by_hand():
    # class 1: tp=2 (rows 2,3), fp=1 (row 1), fn=2 (rows 4,5) -> P=2/3, R=2/4, F=2*2/(4+1+2)=4/7
    # class 0: tp=1 (row 0), fp=2 (rows 4,5), fn=1 (row 1)    -> P=1/3, R=1/2, F=2/(2+2+1)=2/5
    # supports: class 0 -> 2, class 1 -> 4
    macro = compute_metrics("classification", CLASSIFICATION_METRICS, binary_preds(), "macro")
    assert macro["accuracy"] == approx(3 / 6)
    assert macro["precision"] == approx((1 / 3 + 2 / 3) / 2)
    assert macro["recall"] == approx((1 / 2 + 1 / 2) / 2)
    assert macro["f1"] == approx((2 / 5 + 4 / 7) / 2)  # = 17/35
    # AUROC = share of (positive, negative) pairs ranked correctly.
    # negatives 0.1, 0.6; positives 0.7, 0.4, 0.3, 0.8: vs 0.1 all 4 win, vs 0.6 two win.
    assert macro["auroc"] == approx(6 / 8)

    weighted = compute_metrics("classification", CLASSIFICATION_METRICS, binary_preds(), "weighted")
    assert weighted["accuracy"] == approx(3 / 6)
    assert weighted["precision"] == approx((2 * 1 / 3 + 4 * 2 / 3) / 6)  # = 5/9
    assert weighted["recall"] == approx((2 * 1 / 2 + 4 * 1 / 2) / 6)
    assert weighted["f1"] == approx((2 * 2 / 5 + 4 * 4 / 7) / 6)  # = 18/35
    assert weighted["auroc"] == approx(6 / 8)  # binary auroc ignores the average
    assert all(type(v) is float for v in weighted.values())


def test_binary_auroc_uses_classes_1_as_positive_with_string_labels():
    labels = np.array(["cat", "dog"])
    preds = Predictions(labels[BIN_TRUE], labels[BIN_PRED], np.c_[1 - BIN_SCORE, BIN_SCORE], labels)
    assert compute_metrics("classification", ["auroc"], preds)["auroc"] == approx(6 / 8)


def test_multiclass_metrics_by_hand():
    # class 0: tp=2, fp=0, fn=1 -> P=1,   R=2/3, F=4/(4+0+1)=4/5   support 3
    # class 1: tp=1, fp=1, fn=1 -> P=1/2, R=1/2, F=2/(2+1+1)=1/2   support 2
    # class 2: tp=1, fp=1, fn=0 -> P=1/2, R=1,   F=2/(2+1+0)=2/3   support 1
    macro = compute_metrics("classification", CLASSIFICATION_METRICS, multiclass_preds(), "macro")
    assert macro["accuracy"] == approx(4 / 6)
    assert macro["precision"] == approx((1 + 1 / 2 + 1 / 2) / 3)
    assert macro["recall"] == approx((2 / 3 + 1 / 2 + 1) / 3)  # = 13/18
    assert macro["f1"] == approx((4 / 5 + 1 / 2 + 2 / 3) / 3)  # = 59/90
    # One-vs-rest AUROC per class (ties count 1/2):
    #   class 0: positives .7 .3 .6 vs negatives .2 .1 .2 -> 9/9 = 1
    #   class 1: positives .5 .3 vs negatives .2 .4 .1 .2 -> (4 + 3)/8 = 7/8
    #   class 2: positive .6 vs negatives .1 .3 .3 .3 .6 -> (4 + 0.5)/5 = 9/10
    assert macro["auroc"] == approx((1 + 7 / 8 + 9 / 10) / 3)

    weighted = compute_metrics("classification", CLASSIFICATION_METRICS, multiclass_preds(), "weighted")
    assert weighted["precision"] == approx((3 * 1 + 2 * 1 / 2 + 1 * 1 / 2) / 6)  # = 3/4
    assert weighted["recall"] == approx((3 * 2 / 3 + 2 * 1 / 2 + 1 * 1) / 6)  # = accuracy
    assert weighted["f1"] == approx((3 * 4 / 5 + 2 * 1 / 2 + 1 * 2 / 3) / 6)  # = 61/90
    assert weighted["auroc"] == approx((3 * 1 + 2 * 7 / 8 + 1 * 9 / 10) / 6)  # prevalence-weighted


def test_labels_only_predicted_count_with_zero_division_zero():
    # Label 2 is predicted once but never true: precision 0/1 = 0, recall 0/0 -> 0.
    # class 0: P=1/1, R=1/2; class 1: P=2/2, R=2/2.
    preds = Predictions(np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1]))
    macro = compute_metrics("classification", ["precision", "recall"], preds, "macro")
    assert macro == {"precision": approx((1 + 1 + 0) / 3), "recall": approx((1 / 2 + 1 + 0) / 3)}
    weighted = compute_metrics("classification", ["precision", "recall"], preds, "weighted")
    # weights are supports 2, 2, 0
    assert weighted == {"precision": approx((2 * 1 + 2 * 1) / 4), "recall": approx((2 * 1 / 2 + 2 * 1) / 4)}


def test_regression_metrics_by_hand():
    # residuals y - yhat: -0.5, 0, 1, -1
    # mse = (0.25 + 0 + 1 + 1)/4 ; mae = (0.5 + 0 + 1 + 1)/4
    # mean y = 2.5, ss_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5, ss_res = 2.25 -> r2 = 1 - 2.25/5
    # mape = (0.5/1 + 0/2 + 1/3 + 1/4)/4 = 13/48
    values = compute_metrics("regression", REGRESSION_METRICS, Predictions(REG_TRUE, REG_PRED))
    assert values == {
        "mse": approx(2.25 / 4),
        "mae": approx(2.5 / 4),
        "r2": approx(1 - 2.25 / 5),
        "mape": approx((0.5 + 0 + 1 / 3 + 1 / 4) / 4),
    }
    assert all(type(v) is float for v in values.values())


def test_mape_floors_the_denominator_at_machine_epsilon():
    eps = np.finfo(np.float64).eps
    preds = Predictions(np.array([0.0, 2.0]), np.array([1e-12, 3.0]))
    value = compute_metrics("regression", ["mape"], preds)["mape"]
    assert value == approx((1e-12 / eps + 1 / 2) / 2)


# --------------------------------------------------------------------------- vs sklearn


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_classification_agrees_with_sklearn(k, average):
    rng = np.random.default_rng(k)
    p = random_classification(rng, 200, k)
    got = compute_metrics("classification", CLASSIFICATION_METRICS, p, average)
    prec, rec, f1, _ = skm.precision_recall_fscore_support(p.y_true, p.y_pred, average=average, zero_division=0)
    if k == 2:
        auroc = skm.roc_auc_score(p.y_true, p.proba[:, 1])
    else:
        auroc = skm.roc_auc_score(p.y_true, p.proba, multi_class="ovr", average=average)
    assert got == {
        "accuracy": approx(skm.accuracy_score(p.y_true, p.y_pred)),
        "precision": approx(prec),
        "recall": approx(rec),
        "f1": approx(f1),
        "auroc": approx(auroc),
    }


def test_regression_agrees_with_sklearn():
    p = random_regression(np.random.default_rng(7), 150)
    got = compute_metrics("regression", REGRESSION_METRICS, p)
    assert got == {
        "mse": approx(skm.mean_squared_error(p.y_true, p.y_pred)),
        "mae": approx(skm.mean_absolute_error(p.y_true, p.y_pred)),
        "r2": approx(skm.r2_score(p.y_true, p.y_pred)),
        "mape": approx(skm.mean_absolute_percentage_error(p.y_true, p.y_pred)),
    }


# --------------------------------------------------------------------------- resamples


def _counts(rng: np.random.Generator, n: int, b: int = 6) -> np.ndarray:
    return rng.multinomial(n, np.full(n, 1 / n), size=b)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("average", ["macro", "weighted"])
@pytest.mark.parametrize("metric", CLASSIFICATION_METRICS)
def test_resamples_equal_weighted_reference_classification(k, average, metric):
    rng = np.random.default_rng(100 + k)
    p = random_classification(rng, 80, k)
    counts = _counts(rng, 80)
    got = metric_on_resamples("classification", metric, p, counts, average)
    assert got.shape == (len(counts),)
    for b, row in enumerate(counts):
        want = compute_metrics("classification", [metric], p, average, sample_weight=row)[metric]
        assert got[b] == approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("metric", REGRESSION_METRICS)
def test_resamples_equal_weighted_reference_regression(metric):
    rng = np.random.default_rng(5)
    p = random_regression(rng, 60)
    counts = _counts(rng, 60)
    got = metric_on_resamples("regression", metric, p, counts)
    for b, row in enumerate(counts):
        want = compute_metrics("regression", [metric], p, sample_weight=row)[metric]
        assert got[b] == approx(want, rel=1e-12, abs=1e-12)


def test_resamples_match_sklearn_directly_with_weights_and_unseen_labels():
    # Hand-made counts: resample 0 drops row 5 (the only true 2), so label 2 has zero
    # weight in y_true but is still a label (it is predicted) -- as in scikit-learn.
    p = multiclass_preds()
    counts = np.array([[2, 0, 1, 1, 2, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 3, 0, 3]])
    for metric, fn in [("precision", 0), ("recall", 1), ("f1", 2)]:
        for average in ("macro", "weighted"):
            got = metric_on_resamples("classification", metric, p, counts, average)
            for b, row in enumerate(counts):
                want = skm.precision_recall_fscore_support(
                    MC_TRUE, MC_PRED, average=average, zero_division=0, sample_weight=row
                )[fn]
                assert got[b] == approx(want)
    acc = metric_on_resamples("classification", "accuracy", p, counts)
    # resample 0: rows 0 (x2), 2, 3 right, row 4 (x2) wrong; resample 2: rows 3, 5 right
    assert acc.tolist() == approx([4 / 6, 4 / 6, 6 / 6])


def test_regression_resample_constant_target_follows_sklearn():
    # Only rows with equal targets drawn: ss_tot = 0 -> 1.0 if perfect, else 0.0.
    p = Predictions(np.array([2.0, 2.0, 5.0]), np.array([2.0, 3.0, 5.0]))
    counts = np.array([[3, 0, 0], [1, 1, 0], [1, 1, 1]])
    got = metric_on_resamples("regression", "r2", p, counts)
    want = [skm.r2_score(p.y_true, p.y_pred, sample_weight=row) for row in counts]
    assert got.tolist() == approx(want)
    assert got[:2].tolist() == [1.0, 0.0]


def test_resamples_do_not_call_sklearn_for_vectorised_metrics(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("vectorised path must not call scikit-learn per resample")

    for name in ("accuracy_score", "precision_recall_fscore_support", "mean_squared_error",
                 "mean_absolute_error", "mean_absolute_percentage_error", "r2_score"):
        monkeypatch.setattr(sklearn.metrics, name, boom)
    rng = np.random.default_rng(3)
    cls, reg = random_classification(rng, 500, 3), random_regression(rng, 500)
    counts = _counts(rng, 500, b=2000)
    for metric in ("accuracy", "precision", "recall", "f1"):
        assert metric_on_resamples("classification", metric, cls, counts).shape == (2000,)
    for metric in REGRESSION_METRICS:
        assert np.all(np.isfinite(metric_on_resamples("regression", metric, reg, counts)))


def test_resample_counts_are_validated():
    p = Predictions(REG_TRUE, REG_PRED)
    for bad in (np.ones((2, 3), dtype=int), np.array([[1, -1, 2, 2]]), np.zeros((1, 4), dtype=int),
                np.full((1, 4), 0.5)):
        with pytest.raises(EvaluationError) as err:
            metric_on_resamples("regression", "mse", p, bad)
        assert err.value.code == "E_EVAL_BAD_RESAMPLES"


# --------------------------------------------------------------------------- errors


def test_unknown_metric_names_the_metric_and_the_valid_ones():
    with pytest.raises(EvaluationError) as err:
        check_metric_names("classification", ["accuracy", "mse"])
    assert err.value.code == "E_EVAL_UNKNOWN_METRIC"
    assert "'mse'" in err.value.message
    for valid in CLASSIFICATION_METRICS:
        assert valid in err.value.message
    with pytest.raises(EvaluationError) as err:
        compute_metrics("regression", ["rmse"], Predictions(REG_TRUE, REG_PRED))
    assert err.value.code == "E_EVAL_UNKNOWN_METRIC" and "mape" in err.value.message


def test_bad_task_type_and_average():
    with pytest.raises(EvaluationError) as err:
        check_metric_names("ranking", ["accuracy"])
    assert err.value.code == "E_EVAL_UNKNOWN_TASK"
    with pytest.raises(EvaluationError) as err:
        compute_metrics("classification", ["f1"], binary_preds(), average="micro")
    assert err.value.code == "E_EVAL_BAD_AVERAGE"


def test_auroc_without_probabilities_is_an_error():
    with pytest.raises(EvaluationError) as err:
        compute_metrics("classification", ["auroc"], Predictions(BIN_TRUE, BIN_PRED))
    assert "predict_proba" in err.value.message


def test_auroc_with_a_single_class_benchmark_is_an_error():
    preds = Predictions(np.ones(4, dtype=int), np.ones(4, dtype=int), np.full((4, 2), 0.5), np.array([0, 1]))
    with pytest.raises(EvaluationError) as err:
        compute_metrics("classification", ["auroc"], preds)
    assert err.value.code == "E_EVAL_UNDEFINED_METRIC"
    assert "both classes" in err.value.message
    # Same for a resample that drew only one class.
    with pytest.raises(EvaluationError):
        metric_on_resamples("classification", "auroc", binary_preds(), np.array([[3, 3, 0, 0, 0, 0]]))


def test_regression_rejects_non_finite_values():
    with pytest.raises(EvaluationError) as err:
        compute_metrics("regression", ["mse"], Predictions(REG_TRUE, np.array([1.0, np.nan, 2.0, 3.0])))
    assert err.value.code == "E_EVAL_BAD_PREDICTIONS"


def test_predictions_shapes_are_checked():
    with pytest.raises(EvaluationError):
        Predictions(np.arange(3), np.arange(4))
    with pytest.raises(EvaluationError):
        Predictions(BIN_TRUE, BIN_PRED, np.ones((6, 3)), np.array([0, 1]))
    with pytest.raises(EvaluationError):
        Predictions(BIN_TRUE, BIN_PRED, np.ones((6, 2)), np.array([1, 0]))  # unsorted classes


# --------------------------------------------------------------------------- table


def test_metrics_table_shape_columns_and_per_class_rows():
    # The model knows class 3, which the benchmark never contains: it still gets rows.
    proba = np.c_[MC_PROBA * 0.9, np.full(6, 0.1)]
    preds = Predictions(MC_TRUE, MC_PRED, proba, np.array([0, 1, 2, 3]))
    table = metrics_table("classification", ["f1", "accuracy"], preds, "macro")

    assert list(table.columns) == ["metric", "scope", "value", "higher_is_better"]
    assert table["value"].dtype == np.float64 and table["higher_is_better"].dtype == bool
    assert len(table) == 2 + 4 * 4
    assert table.iloc[:2][["metric", "scope"]].values.tolist() == [["f1", "overall"], ["accuracy", "overall"]]
    assert table.iloc[1]["value"] == approx(4 / 6)

    per_class = table.iloc[2:]
    assert per_class["scope"].tolist() == [f"class={c}" for c in (0, 1, 2, 3) for _ in range(4)]
    assert per_class["metric"].tolist() == ["precision", "recall", "f1", "support"] * 4
    assert per_class["higher_is_better"].all()
    by = {(r.metric, r.scope): r.value for r in table.itertuples()}
    assert by[("precision", "class=0")] == approx(1.0)
    assert by[("recall", "class=0")] == approx(2 / 3)
    assert by[("f1", "class=2")] == approx(2 / 3)
    assert by[("support", "class=0")] == 3.0
    assert by[("support", "class=3")] == 0.0


def test_metrics_table_regression_has_only_overall_rows():
    table = metrics_table("regression", ["mse", "r2"], Predictions(REG_TRUE, REG_PRED))
    assert isinstance(table, pd.DataFrame)
    assert table["scope"].tolist() == ["overall", "overall"]
    assert table["higher_is_better"].tolist() == [False, True]
    assert table["value"].tolist() == approx([2.25 / 4, 1 - 2.25 / 5])
