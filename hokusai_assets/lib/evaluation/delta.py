"""DeltaOne: how much better the improved model is than the baseline, and whether it counts.

Contract (DESIGN.md section 3, "Delta")
--------------------------------------
:func:`compute_delta` evaluates the baseline and the improved model on the *same*
benchmark rows and returns one JSON-ready dict (str keys; Python floats, ints, bools and
None only; never NaN or infinity):

* ``metric_deltas[m]`` -- both values, ``absolute_delta`` (new - baseline),
  ``relative_delta`` ((new - baseline) / |baseline|, None when the baseline is 0),
  ``higher_is_better``, ``improvement`` (strictly moved the good way) and the
  ``direction_aware_delta`` (positive = better, see :func:`direction_aware_delta`).
* ``delta_one_score`` -- the weighted mean of the direction-aware deltas, with the
  policy's weights normalised to sum to one (``computation_method`` =
  ``"weighted_average_delta"``).
* ``significance`` -- a paired bootstrap of the primary metric's direction-aware delta
  (both models scored on the same resampled rows), its percentile confidence interval and
  one-sided p-value, and for classification an exact McNemar test on the rows exactly one
  model got right.
* ``accepted`` -- true only when the interval's lower bound is above zero, the primary
  delta is at least ``min_improvement`` and the benchmark has at least
  ``min_benchmark_rows`` rows; ``decision_reasons`` names every failed condition.
* ``delta_one_bps`` -- ``delta_one_score`` in basis points, rounded half-to-even, when
  accepted; 0 otherwise.

Everything is deterministic: the bootstrap draws from ``PCG64(bootstrap_seed)``, so the
same inputs and policy give byte-identical canonical JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from types import MappingProxyType

import numpy as np

from hokusai_assets.lib.errors import EvaluationError
from hokusai_assets.lib.evaluation.metrics import (
    AVERAGES,
    CLASSIFICATION,
    CLASSIFICATION_METRICS,
    ERROR_METRICS,
    HIGHER_IS_BETTER,
    REGRESSION_METRICS,
    Predictions,
    check_metric_names,
    compute_metrics,
)
from hokusai_assets.lib.evaluation.resampled import metric_on_resamples

COMPUTATION_METHOD = "weighted_average_delta"
SIGNIFICANCE_METHOD = "paired_bootstrap"
ACCEPTED_REASON = "all acceptance conditions met"

# Bootstrap counts are drawn in blocks of resamples so memory stays near this many
# cells whatever the benchmark size (drawing block by block consumes the generator
# exactly as one big draw would, so the result does not depend on the block size).
_MAX_CELLS_PER_BLOCK = 2_000_000


def _bad_policy(message: str, code: str = "E_EVAL_BAD_POLICY") -> EvaluationError:
    return EvaluationError(message, code=code)


@dataclass(frozen=True)
class EvaluationPolicy:
    """How to score a delta and when to accept it (the ``evaluation`` section of the config).

    ``weights`` may omit metrics (weight 1.0); weights must be finite, >= 0, name only
    configured metrics and not all be zero. Metric names are checked against the task type
    in :func:`compute_delta`, which is the first place the task type is known.
    """

    metrics: tuple[str, ...]
    weights: Mapping[str, float]
    primary_metric: str
    average: str = "macro"
    min_improvement: float = 0.0
    min_benchmark_rows: int = 100
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        metrics = tuple(self.metrics) if not isinstance(self.metrics, str) else (self.metrics,)
        object.__setattr__(self, "metrics", metrics)
        # A read-only copy: the policy is frozen, its weights should be too.
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights or {})))

        known = set(CLASSIFICATION_METRICS) | set(REGRESSION_METRICS)
        if not metrics:
            raise _bad_policy(
                "evaluation.metrics is empty; list at least one metric.", "E_EVAL_NO_METRICS"
            )
        unknown = [m for m in metrics if m not in known]
        if unknown:
            raise _bad_policy(
                f"unknown metric(s) {', '.join(map(repr, unknown))}; valid metrics are "
                f"{', '.join(CLASSIFICATION_METRICS)} (classification) and "
                f"{', '.join(REGRESSION_METRICS)} (regression).",
                "E_EVAL_UNKNOWN_METRIC",
            )
        if self.primary_metric not in metrics:
            raise _bad_policy(
                f"primary_metric {self.primary_metric!r} is not one of the configured metrics "
                f"({', '.join(metrics)}); set it to one of them."
            )
        if self.average not in AVERAGES:
            raise _bad_policy(f"average {self.average!r} is not one of {', '.join(AVERAGES)}.")

        stray = sorted(set(self.weights) - set(metrics))
        if stray:
            raise _bad_policy(
                f"weights given for metric(s) {', '.join(stray)} that are not in "
                f"evaluation.metrics ({', '.join(metrics)}); remove them or add the metric.",
                "E_EVAL_BAD_WEIGHTS",
            )
        for metric, weight in self.weights.items():
            is_number = isinstance(weight, Real) and not isinstance(weight, bool)
            if not is_number or not math.isfinite(weight) or weight < 0:
                raise _bad_policy(
                    f"weight for {metric} is {weight!r}; weights must be finite numbers >= 0.",
                    "E_EVAL_BAD_WEIGHTS",
                )
        if sum(self.weights.get(m, 1.0) for m in metrics) <= 0:
            raise _bad_policy(
                "all metric weights are zero; give at least one metric a positive weight.",
                "E_EVAL_BAD_WEIGHTS",
            )

        if not isinstance(self.min_improvement, Real) or not math.isfinite(self.min_improvement):
            raise _bad_policy(
                f"min_improvement must be a finite number, got {self.min_improvement!r}."
            )
        for name, minimum in (
            ("min_benchmark_rows", 1),
            ("bootstrap_resamples", 1),
            ("bootstrap_seed", 0),
        ):
            self._set_whole_number(name, minimum)
        if not isinstance(self.confidence, Real) or not 0.0 < self.confidence < 1.0:
            raise _bad_policy(
                f"confidence must be strictly between 0 and 1 (e.g. 0.95), got {self.confidence!r}."
            )

    def _set_whole_number(self, name: str, minimum: int) -> None:
        """Check an integer setting and store it as a plain int (YAML may give 1000.0)."""
        value = getattr(self, name)
        is_whole = (
            isinstance(value, Real)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value == int(value)
        )
        if not is_whole or value < minimum:
            raise _bad_policy(f"{name} must be an integer >= {minimum}, got {value!r}.")
        object.__setattr__(self, name, int(value))

    def normalised_weights(self) -> dict[str, float]:
        """Weight per configured metric (missing -> 1.0), scaled to sum to one."""
        raw = {m: float(self.weights.get(m, 1.0)) for m in self.metrics}
        total = sum(raw.values())
        return {m: w / total for m, w in raw.items()}


# ----------------------------------------------------------------------------- deltas


def _direction_aware(metric: str, base: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Vectorised :func:`direction_aware_delta` (the bootstrap applies it per resample)."""
    if metric not in HIGHER_IS_BETTER:
        raise EvaluationError(
            f"unknown metric {metric!r}; valid metrics are {', '.join(HIGHER_IS_BETTER)}.",
            code="E_EVAL_UNKNOWN_METRIC",
        )
    base = np.asarray(base, dtype=np.float64)
    new = np.asarray(new, dtype=np.float64)
    if metric not in ERROR_METRICS:
        return new - base if HIGHER_IS_BETTER[metric] else base - new
    # Relative improvement of an error. A zero baseline error leaves nothing to improve
    # on relatively: equal (zero) error is no change, and any error at all is scored -1.0,
    # the mirror image of the best possible relative gain (+1.0, error driven to zero).
    # That keeps the score finite (JSON, attestations) and a degradation never accepted.
    zero_base = base == 0
    relative = np.divide(base - new, base, out=np.zeros_like(base), where=~zero_base)
    return np.where(zero_base, np.where(new == 0, 0.0, -1.0), relative)


def direction_aware_delta(metric: str, baseline_value: float, new_value: float) -> float:
    """Signed change of one metric with "positive = better".

    Bounded metrics (accuracy, precision, recall, f1, auroc, r2): ``new - base`` when
    higher is better, ``base - new`` otherwise. Error metrics (mse, mae, mape): relative
    improvement ``(base - new) / base``; with a zero baseline, 0.0 if the new error is
    also zero and -1.0 otherwise (the relative change is unbounded there; -1.0 mirrors
    the best possible gain and keeps the value finite).
    """
    return float(_direction_aware(metric, np.float64(baseline_value), np.float64(new_value)))


def score_to_bps(score: float) -> int:
    """A DeltaOne score in basis points, rounded half to even (Python's ``round``)."""
    return int(round(score * 10_000))


def _metric_delta(metric: str, base: float, new: float) -> dict:
    higher = HIGHER_IS_BETTER[metric]
    return {
        "baseline_value": base,
        "new_value": new,
        "absolute_delta": new - base,
        "relative_delta": None if base == 0 else (new - base) / abs(base),
        "higher_is_better": higher,
        "improvement": new > base if higher else new < base,
        "direction_aware_delta": direction_aware_delta(metric, base, new),
    }


# ----------------------------------------------------------------------------- significance


def _bootstrap_primary(
    task_type: str, policy: EvaluationPolicy, baseline: Predictions, improved: Predictions
) -> np.ndarray:
    """Direction-aware primary delta on each of B paired bootstrap resamples.

    Resample b draws n rows with replacement, as multinomial counts over the rows; the
    same counts score both models, which is what makes the comparison paired.
    """
    n, total = baseline.n_rows, policy.bootstrap_resamples
    rng = np.random.Generator(np.random.PCG64(policy.bootstrap_seed))
    pvals = np.full(n, 1.0 / n)
    block = max(1, _MAX_CELLS_PER_BLOCK // n)
    metric, average = policy.primary_metric, policy.average
    deltas = []
    for start in range(0, total, block):
        counts = rng.multinomial(n, pvals, size=min(block, total - start))
        base = metric_on_resamples(task_type, metric, baseline, counts, average)
        new = metric_on_resamples(task_type, metric, improved, counts, average)
        deltas.append(_direction_aware(metric, base, new))
    return np.concatenate(deltas)


def _mcnemar(y_true: np.ndarray, baseline: Predictions, improved: Predictions) -> dict:
    """Exact McNemar test: only rows where exactly one model is right carry information."""
    base_ok = baseline.y_pred == y_true
    new_ok = improved.y_pred == y_true
    b = int(np.sum(base_ok & ~new_ok))
    c = int(np.sum(~base_ok & new_ok))
    from scipy.stats import binomtest  # imported here: scipy.stats costs ~0.5 s to import

    p = 1.0 if b + c == 0 else float(binomtest(c, b + c, 0.5, alternative="two-sided").pvalue)
    return {"baseline_only_correct": b, "improved_only_correct": c, "p_value": min(p, 1.0)}


# ----------------------------------------------------------------------------- DeltaOne


def _check_aligned(baseline: Predictions, improved: Predictions) -> None:
    same = baseline.y_true.shape == improved.y_true.shape and np.array_equal(
        baseline.y_true, improved.y_true
    )
    if not same:
        raise EvaluationError(
            "baseline and improved predictions do not share the same benchmark labels "
            "(y_true differs); score both models on the same benchmark rows in the same order.",
            code="E_EVAL_MISALIGNED",
        )


def compute_delta(
    task_type: str, policy: EvaluationPolicy, baseline: Predictions, improved: Predictions
) -> dict:
    """Score the improved model against the baseline on one benchmark (see module docstring)."""
    check_metric_names(task_type, policy.metrics)
    _check_aligned(baseline, improved)
    n = baseline.n_rows

    base_values = compute_metrics(task_type, policy.metrics, baseline, policy.average)
    new_values = compute_metrics(task_type, policy.metrics, improved, policy.average)
    metric_deltas = {m: _metric_delta(m, base_values[m], new_values[m]) for m in policy.metrics}
    weights = policy.normalised_weights()
    score = float(
        sum(weights[m] * metric_deltas[m]["direction_aware_delta"] for m in policy.metrics)
    )
    primary = policy.primary_metric
    primary_delta = metric_deltas[primary]["direction_aware_delta"]

    deltas = _bootstrap_primary(task_type, policy, baseline, improved)
    tail = (1.0 - policy.confidence) / 2.0 * 100.0
    ci_lower, ci_upper = (float(v) for v in np.percentile(deltas, [tail, 100.0 - tail]))
    # Add-one (Davison-Hinkley) p-value: never exactly 0 from a finite bootstrap.
    p_value = float((1 + np.count_nonzero(deltas <= 0)) / (len(deltas) + 1))
    significance = {
        "method": SIGNIFICANCE_METHOD,
        "resamples": int(policy.bootstrap_resamples),
        "seed": int(policy.bootstrap_seed),
        "confidence": float(policy.confidence),
        "ci_lower": ci_lower,
        "ci_upper": ci_upper,
        "p_value": p_value,
        "mcnemar": (
            _mcnemar(baseline.y_true, baseline, improved) if task_type == CLASSIFICATION else None
        ),
    }

    reasons = []
    if not ci_lower > 0:
        reasons.append(
            f"the {policy.confidence:.0%} confidence interval of the {primary} delta "
            f"[{ci_lower:.6g}, {ci_upper:.6g}] does not lie above zero (ci_lower <= 0): "
            "the improvement is not significant"
        )
    if not primary_delta >= policy.min_improvement:
        reasons.append(
            f"the {primary} delta {primary_delta:.6g} is below min_improvement "
            f"{policy.min_improvement:g}"
        )
    if not n >= policy.min_benchmark_rows:
        reasons.append(
            f"the benchmark has {n} rows, fewer than min_benchmark_rows "
            f"{policy.min_benchmark_rows}"
        )
    accepted = not reasons

    return {
        "task_type": task_type,
        "average": policy.average,
        "metric_deltas": metric_deltas,
        "weights": weights,
        "delta_one_score": score,
        "computation_method": COMPUTATION_METHOD,
        "primary_metric": primary,
        "primary_delta": primary_delta,
        "significance": significance,
        "benchmark_rows": int(n),
        "min_improvement": float(policy.min_improvement),
        "min_benchmark_rows": int(policy.min_benchmark_rows),
        "accepted": accepted,
        "decision_reasons": reasons or [ACCEPTED_REASON],
        "delta_one_bps": score_to_bps(score) if accepted else 0,
    }
