"""Evaluation metrics: one definition, used for reporting and for the bootstrap.

Contract
--------
* Task types are ``"classification"`` (binary or multiclass) and ``"regression"``.
* Classification metrics: accuracy, precision, recall, f1, auroc. precision, recall and
  f1 are averaged (``macro`` or ``weighted``) over every label present in
  ``y_true ∪ y_pred`` with ``zero_division=0`` -- exactly scikit-learn's
  ``precision_recall_fscore_support(..., average=average, zero_division=0)``.
  auroc is binary ``roc_auc_score(y_true == classes[1], proba[:, 1])`` or, with more than
  two classes, one-vs-rest ``roc_auc_score(..., multi_class="ovr", average=average,
  labels=classes)``. It needs probabilities and every class of the model present in the
  benchmark; otherwise it is undefined and an :class:`EvaluationError` is raised.
* Regression metrics: mse, mae, r2, mape (scikit-learn definitions; mape divides by
  ``max(|y|, eps)``).
* Every returned value is a finite Python ``float``; anything that would be NaN or
  infinite is an :class:`EvaluationError` instead, so the values can go straight into
  JSON and attestations.
* :func:`compute_metrics` is the reference (it calls scikit-learn).
  ``resampled.metric_on_resamples`` evaluates one metric on many bootstrap resamples at
  once and equals ``compute_metrics(..., sample_weight=counts[b])`` for every resample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import EvaluationError


def _skm() -> ModuleType:
    """scikit-learn's metrics, imported on first use: they cost about a second to import,
    which a verifier that only re-checks recorded numbers should not pay."""
    import sklearn.metrics

    return sklearn.metrics

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASK_TYPES = (CLASSIFICATION, REGRESSION)

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "auroc")
REGRESSION_METRICS = ("mse", "mae", "r2", "mape")
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "auroc": True,
    "mse": False,
    "mae": False,
    "r2": True,
    "mape": False,
}
# Unbounded-above error metrics: DeltaOne compares them relatively (a 10% lower MSE means
# the same at any scale); the bounded ones (and r2) are compared absolutely.
ERROR_METRICS = frozenset({"mse", "mae", "mape"})
AVERAGES = ("macro", "weighted")

_METRICS_BY_TASK = {CLASSIFICATION: CLASSIFICATION_METRICS, REGRESSION: REGRESSION_METRICS}
_PER_CLASS_METRICS = ("precision", "recall", "f1", "support")
MAPE_EPS = np.finfo(np.float64).eps  # the floor scikit-learn's MAPE divides by


@dataclass(frozen=True, eq=False)  # eq=False: element-wise array equality has no truth value
class Predictions:
    """What a model predicted on the benchmark rows, aligned row by row with ``y_true``.

    ``proba`` (classification only) has one column per entry of ``classes``, which are the
    sorted labels the model knows. Inputs are converted to numpy arrays and checked for
    shape here, so every metric can rely on them.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None = None
    classes: np.ndarray | None = None

    def __post_init__(self) -> None:
        y_true = np.asarray(self.y_true)
        y_pred = np.asarray(self.y_pred)
        if y_true.ndim != 1 or y_pred.ndim != 1:
            raise EvaluationError(
                f"y_true and y_pred must be one-dimensional, got shapes {y_true.shape} and "
                f"{y_pred.shape}; pass one label or value per benchmark row.",
                code="E_EVAL_BAD_PREDICTIONS",
            )
        if len(y_true) != len(y_pred):
            raise EvaluationError(
                f"y_true has {len(y_true)} rows but y_pred has {len(y_pred)}; predict on "
                "exactly the benchmark rows.",
                code="E_EVAL_BAD_PREDICTIONS",
            )
        if len(y_true) == 0:
            raise EvaluationError(
                "the benchmark is empty; metrics need at least one row.",
                code="E_EVAL_BAD_PREDICTIONS",
            )
        object.__setattr__(self, "y_true", y_true)
        object.__setattr__(self, "y_pred", y_pred)

        if self.classes is not None:
            classes = np.asarray(self.classes)
            if classes.ndim != 1 or len(classes) == 0:
                raise EvaluationError(
                    f"classes must be a non-empty 1-D array of labels, got shape {classes.shape}.",
                    code="E_EVAL_BAD_PREDICTIONS",
                )
            if not np.array_equal(np.unique(classes), classes):
                raise EvaluationError(
                    "classes must be sorted and unique (as model.classes_), got "
                    f"{classes.tolist()}.",
                    code="E_EVAL_BAD_PREDICTIONS",
                )
            object.__setattr__(self, "classes", classes)
        if self.proba is not None:
            if self.classes is None:
                raise EvaluationError(
                    "proba was given without classes; pass the model's classes_ so each "
                    "probability column has a label.",
                    code="E_EVAL_BAD_PREDICTIONS",
                )
            proba = np.asarray(self.proba, dtype=np.float64)
            expected = (len(y_true), len(self.classes))
            if proba.shape != expected:
                raise EvaluationError(
                    f"proba has shape {proba.shape}, expected {expected} (rows x classes).",
                    code="E_EVAL_BAD_PREDICTIONS",
                )
            if not np.all(np.isfinite(proba)):
                raise EvaluationError(
                    "proba contains NaN or infinite values; fix the model's predict_proba output.",
                    code="E_EVAL_BAD_PREDICTIONS",
                )
            object.__setattr__(self, "proba", proba)

    @property
    def n_rows(self) -> int:
        return len(self.y_true)


# ----------------------------------------------------------------------------- checks


def _check_task_type(task_type: str) -> None:
    if task_type not in TASK_TYPES:
        raise EvaluationError(
            f"unknown task type {task_type!r}; use one of {', '.join(TASK_TYPES)}.",
            code="E_EVAL_UNKNOWN_TASK",
        )


def check_average(average: str) -> None:
    if average not in AVERAGES:
        raise EvaluationError(
            f"unknown average {average!r}; use one of {', '.join(AVERAGES)}.",
            code="E_EVAL_BAD_AVERAGE",
        )


def check_metric_names(task_type: str, metrics: Sequence[str]) -> None:
    """Raise unless ``metrics`` is a non-empty list of distinct metrics valid for the task."""
    _check_task_type(task_type)
    valid = _METRICS_BY_TASK[task_type]
    if isinstance(metrics, str) or len(metrics) == 0:
        raise EvaluationError(
            f"no metrics configured; list one or more of {', '.join(valid)} for {task_type}.",
            code="E_EVAL_NO_METRICS",
        )
    for metric in metrics:
        if metric not in valid:
            raise EvaluationError(
                f"metric {metric!r} is not valid for {task_type}; valid metrics are "
                f"{', '.join(valid)}.",
                code="E_EVAL_UNKNOWN_METRIC",
            )
    duplicates = sorted({m for m in metrics if list(metrics).count(m) > 1})
    if duplicates:
        raise EvaluationError(
            f"metric(s) {', '.join(duplicates)} listed more than once; list each metric once.",
            code="E_EVAL_DUPLICATE_METRIC",
        )


def regression_arrays(preds: Predictions) -> tuple[np.ndarray, np.ndarray]:
    try:
        y_true = preds.y_true.astype(np.float64)
        y_pred = preds.y_pred.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(
            f"regression targets and predictions must be numeric ({exc}); check the label "
            "column and the model output.",
            code="E_EVAL_BAD_PREDICTIONS",
        ) from exc
    if not (np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))):
        raise EvaluationError(
            "regression targets or predictions contain NaN or infinite values; clean the "
            "benchmark labels or fix the model output.",
            code="E_EVAL_BAD_PREDICTIONS",
        )
    return y_true, y_pred


def _finite(metric: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise EvaluationError(
            f"{metric} evaluated to {value}; check the benchmark for degenerate labels.",
            code="E_EVAL_UNDEFINED_METRIC",
        )
    return value


# ----------------------------------------------------------------------------- auroc


def auroc(preds: Predictions, average: str, sample_weight: np.ndarray | None) -> float:
    """AUROC, or EvaluationError when it is undefined on these (weighted) rows."""
    if preds.proba is None or preds.classes is None:
        raise EvaluationError(
            "auroc needs predicted probabilities, but the model gave none; use a model with "
            "predict_proba or drop auroc from evaluation.metrics.",
            code="E_EVAL_NO_PROBA",
        )
    classes, y_true, proba = preds.classes, preds.y_true, preds.proba
    if sample_weight is not None:
        # A row with weight zero is simply not in the sample (scikit-learn drops it too);
        # dropping it first makes the "is every class present" check below weight-aware.
        keep = sample_weight > 0
        y_true, proba, sample_weight = y_true[keep], proba[keep], sample_weight[keep]
    unknown = np.setdiff1d(np.unique(y_true), classes)
    if len(unknown):
        raise EvaluationError(
            f"the benchmark has labels the model does not know ({unknown.tolist()}), so auroc "
            "is undefined; retrain on data covering every label or drop auroc.",
            code="E_EVAL_UNDEFINED_METRIC",
        )
    present = np.unique(y_true)
    if len(classes) < 2 or len(present) < len(classes):
        need = "both classes" if len(classes) <= 2 else f"all {len(classes)} classes"
        raise EvaluationError(
            f"auroc is undefined: the benchmark contains only {present.tolist()} but needs "
            f"{need} ({classes.tolist()}); use a benchmark with every class or another metric.",
            code="E_EVAL_UNDEFINED_METRIC",
        )
    try:
        if len(classes) == 2:
            value = _skm().roc_auc_score(y_true == classes[1], proba[:, 1], sample_weight=sample_weight)
        else:
            value = _skm().roc_auc_score(
                y_true,
                proba,
                multi_class="ovr",
                average=average,
                labels=classes,
                sample_weight=sample_weight,
            )
    except ValueError as exc:  # e.g. multiclass probabilities that do not sum to one
        raise EvaluationError(
            f"auroc could not be computed: {exc}", code="E_EVAL_UNDEFINED_METRIC"
        ) from exc
    return _finite("auroc", value)


# ----------------------------------------------------------------------------- reference


def _one_metric(
    task_type: str,
    metric: str,
    preds: Predictions,
    average: str,
    sample_weight: np.ndarray | None,
) -> float:
    if task_type == CLASSIFICATION:
        y_true, y_pred = preds.y_true, preds.y_pred
        if metric == "accuracy":
            return _finite(metric, _skm().accuracy_score(y_true, y_pred, sample_weight=sample_weight))
        if metric in ("precision", "recall", "f1"):
            p, r, f, _ = _skm().precision_recall_fscore_support(
                y_true, y_pred, average=average, zero_division=0, sample_weight=sample_weight
            )
            return _finite(metric, {"precision": p, "recall": r, "f1": f}[metric])
        return auroc(preds, average, sample_weight)

    y_true, y_pred = regression_arrays(preds)
    if metric == "mse":
        return _finite(metric, _skm().mean_squared_error(y_true, y_pred, sample_weight=sample_weight))
    if metric == "mae":
        return _finite(metric, _skm().mean_absolute_error(y_true, y_pred, sample_weight=sample_weight))
    if metric == "mape":
        return _finite(
            metric, _skm().mean_absolute_percentage_error(y_true, y_pred, sample_weight=sample_weight)
        )
    if len(y_true) < 2:  # scikit-learn returns NaN here
        raise EvaluationError(
            "r2 needs at least two benchmark rows; use a larger benchmark.",
            code="E_EVAL_UNDEFINED_METRIC",
        )
    return _finite(metric, _skm().r2_score(y_true, y_pred, sample_weight=sample_weight))


def _check_weights(sample_weight: np.ndarray | None, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise EvaluationError(
            f"sample_weight must be {n} finite non-negative numbers with a positive sum.",
            code="E_EVAL_BAD_WEIGHTS",
        )
    return w


def compute_metrics(
    task_type: str,
    metrics: Sequence[str],
    preds: Predictions,
    average: str = "macro",
    *,
    sample_weight: np.ndarray | None = None,
) -> dict[str, float]:
    """Each configured metric, in configured order, as a finite Python float.

    ``sample_weight`` (optional, one non-negative weight per row) is what the bootstrap
    uses: a resample is the benchmark with row ``i`` counted ``counts[i]`` times.
    """
    check_metric_names(task_type, metrics)
    check_average(average)
    w = _check_weights(sample_weight, preds.n_rows)
    return {m: _one_metric(task_type, m, preds, average, w) for m in metrics}


def metrics_table(
    task_type: str, metrics: Sequence[str], preds: Predictions, average: str = "macro"
) -> pd.DataFrame:
    """Long table of metric values: overall rows, then (classification) per-class rows.

    Columns: ``metric``, ``scope`` ("overall" or "class=<label>"), ``value`` (float64),
    ``higher_is_better`` (bool). Per-class rows are precision, recall, f1 and support for
    every label in ``y_true ∪ classes``, sorted.
    """
    overall = compute_metrics(task_type, metrics, preds, average)
    rows: list[tuple[str, str, float, bool]] = [
        (m, "overall", v, HIGHER_IS_BETTER[m]) for m, v in overall.items()
    ]
    if task_type == CLASSIFICATION:
        known = [preds.y_true] if preds.classes is None else [preds.y_true, preds.classes]
        labels = np.unique(np.concatenate(known))
        p, r, f, s = _skm().precision_recall_fscore_support(
            preds.y_true, preds.y_pred, labels=labels, average=None, zero_division=0
        )
        for i, label in enumerate(labels):
            for name, value in zip(_PER_CLASS_METRICS, (p[i], r[i], f[i], s[i])):
                rows.append((name, f"class={label}", float(value), True))
    return pd.DataFrame(
        {
            "metric": pd.Series([r[0] for r in rows], dtype=object),
            "scope": pd.Series([r[1] for r in rows], dtype=object),
            "value": pd.Series([r[2] for r in rows], dtype=np.float64),
            "higher_is_better": pd.Series([r[3] for r in rows], dtype=bool),
        }
    )
