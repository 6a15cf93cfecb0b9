"""One metric on many bootstrap resamples at once, equal to the reference metric on each.

:func:`metric_on_resamples` takes integer resample counts (row ``i`` drawn ``counts[b, i]``
times in resample ``b``) and equals ``compute_metrics(..., sample_weight=counts[b])`` for
every ``b``; it is vectorised (weighted confusion matrices and weighted sums) except for
auroc, which has no cheap closed form and loops.
"""

from __future__ import annotations

import numpy as np

from hokusai_assets.lib.errors import EvaluationError
from hokusai_assets.lib.evaluation.metrics import (
    CLASSIFICATION,
    MAPE_EPS,
    Predictions,
    auroc,
    check_average,
    check_metric_names,
    regression_arrays,
)


def _check_counts(counts: np.ndarray, n: int) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] != n:
        raise EvaluationError(
            f"resample counts must have shape (B, {n}), got {counts.shape}.",
            code="E_EVAL_BAD_RESAMPLES",
        )
    if (
        not np.issubdtype(counts.dtype, np.integer)
        or np.any(counts < 0)
        or np.any(counts.sum(axis=1) <= 0)
    ):
        raise EvaluationError(
            "resample counts must be non-negative integers with at least one row per resample.",
            code="E_EVAL_BAD_RESAMPLES",
        )
    # float64 holds integer counts exactly (up to 2**53) and keeps the matmuls in BLAS.
    return counts.astype(np.float64)


def _weighted_confusion(preds: Predictions, w: np.ndarray) -> np.ndarray:
    """(B, K, K) confusion matrices, one per resample, over labels y_true ∪ y_pred."""
    try:
        both = np.concatenate([preds.y_true, preds.y_pred])
        labels, inverse = np.unique(both, return_inverse=True)
    except TypeError as exc:
        raise EvaluationError(
            f"labels in y_true and y_pred cannot be compared ({exc}); use one label type.",
            code="E_EVAL_BAD_PREDICTIONS",
        ) from exc
    n, k = preds.n_rows, len(labels)
    cell = inverse[:n] * k + inverse[n:]  # row i lands in cell (true, pred)
    from scipy import sparse

    one_hot = sparse.csr_matrix((np.ones(n), (np.arange(n), cell)), shape=(n, k * k))
    # counts @ one_hot, computed as (one_hot.T @ counts.T).T so the sparse factor leads.
    cells = np.asarray((one_hot.T @ w.T).T)
    return cells.reshape(len(w), k, k)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0 (scikit-learn's zero_division=0)."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den != 0)


def _classification_on_resamples(
    metric: str, preds: Predictions, w: np.ndarray, average: str
) -> np.ndarray:
    cm = _weighted_confusion(preds, w)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    true_sum = cm.sum(axis=2)
    pred_sum = cm.sum(axis=1)
    if metric == "accuracy":
        return tp.sum(axis=1) / w.sum(axis=1)
    if metric == "precision":
        per_class = _divide(tp, pred_sum)
    elif metric == "recall":
        per_class = _divide(tp, true_sum)
    else:  # f1 = 2tp / (2tp + fp + fn) = 2tp / (true_sum + pred_sum)
        per_class = _divide(2.0 * tp, true_sum + pred_sum)
    if average == "macro":
        return per_class.mean(axis=1)
    return (per_class * true_sum).sum(axis=1) / true_sum.sum(axis=1)


def _regression_on_resamples(metric: str, preds: Predictions, w: np.ndarray) -> np.ndarray:
    y_true, y_pred = regression_arrays(preds)
    total = w.sum(axis=1)
    residual = y_true - y_pred
    if metric == "mse":
        return (w @ residual**2) / total
    if metric == "mae":
        return (w @ np.abs(residual)) / total
    if metric == "mape":
        return (w @ (np.abs(residual) / np.maximum(np.abs(y_true), MAPE_EPS))) / total
    if len(y_true) < 2:
        raise EvaluationError(
            "r2 needs at least two benchmark rows; use a larger benchmark.",
            code="E_EVAL_UNDEFINED_METRIC",
        )
    ss_res = w @ residual**2
    mean = (w @ y_true) / total
    ss_tot = (w * (y_true[None, :] - mean[:, None]) ** 2).sum(axis=1)
    # scikit-learn's force_finite convention for a constant target: 1.0 if the fit is
    # perfect, else 0.0.
    r2 = np.where(ss_res == 0, 1.0, 0.0)
    ok = ss_tot != 0
    r2[ok] = 1.0 - ss_res[ok] / ss_tot[ok]
    return r2


def metric_on_resamples(
    task_type: str,
    metric: str,
    preds: Predictions,
    counts: np.ndarray,
    average: str = "macro",
) -> np.ndarray:
    """One metric on B bootstrap resamples, shape (B,).

    ``counts[b, i]`` is how often row ``i`` was drawn in resample ``b``. The result equals
    ``compute_metrics(task_type, [metric], preds, average, sample_weight=counts[b])[metric]``
    for every ``b`` (up to floating-point rounding). Raises EvaluationError if the metric is
    undefined on any resample (e.g. auroc on a resample that drew a single class).
    """
    check_metric_names(task_type, [metric])
    check_average(average)
    w = _check_counts(counts, preds.n_rows)
    if metric == "auroc":  # no vectorised form; sklearn per resample
        return np.array([auroc(preds, average, row) for row in w], dtype=np.float64)
    if task_type == CLASSIFICATION:
        values = _classification_on_resamples(metric, preds, w, average)
    else:
        values = _regression_on_resamples(metric, preds, w)
    if not np.all(np.isfinite(values)):
        raise EvaluationError(
            f"{metric} is not finite on some bootstrap resamples; check the benchmark data.",
            code="E_EVAL_UNDEFINED_METRIC",
        )
    return values
