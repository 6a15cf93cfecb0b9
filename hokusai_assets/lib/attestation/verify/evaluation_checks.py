"""Checks of the arithmetic: every metric's deltas, the DeltaOne score, its basis points, the decision.

Everything is recomputed from the recorded values with the rules of ``lib/evaluation``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hokusai_assets.lib.attestation.verify.base import Context, is_int, is_number, require
from hokusai_assets.lib.evaluation.delta import ACCEPTED_REASON, COMPUTATION_METHOD, direction_aware_delta, score_to_bps
from hokusai_assets.lib.evaluation.metrics import HIGHER_IS_BETTER

# delta_one_score is a sum whose order the verifier cannot know (RFC 8785 sorts the
# metrics), so it is compared with this relative tolerance, scaled by the sum of the
# terms' magnitudes (the bound on reordering error); every other value is recomputed
# exactly, with the same IEEE operations lib/evaluation/delta.py uses.
SCORE_REL_TOLERANCE = 1e-12

_METRIC_KEYS = {
    "baseline_value",
    "new_value",
    "absolute_delta",
    "relative_delta",
    "higher_is_better",
    "improvement",
    "direction_aware_delta",
}


def _evaluation(ctx: Context) -> Mapping[str, Any]:
    return ctx.predicate.evaluation


def _same(recorded: Any, recomputed: Any) -> bool:
    """Exact equality of a recorded JSON value with its recomputation (0 == 0.0; bools are
    not numbers; None only equals None)."""
    if isinstance(recomputed, bool) or recomputed is None:
        return recorded is recomputed
    return is_number(recorded) and recorded == recomputed


def check_delta_arithmetic(ctx: Context) -> str:
    evaluation = _evaluation(ctx)
    deltas = evaluation.get("metric_deltas")
    weights = evaluation.get("weights")
    require(isinstance(deltas, dict) and deltas, "evaluation.metric_deltas is missing or empty")
    require(
        evaluation.get("computation_method") == COMPUTATION_METHOD,
        f"computation_method is {evaluation.get('computation_method')!r}, expected {COMPUTATION_METHOD!r}",
    )
    require(
        isinstance(weights, dict) and set(weights) == set(deltas),
        "evaluation.weights must name exactly the metrics of metric_deltas",
    )
    for metric, weight in weights.items():
        require(is_number(weight) and weight >= 0, f"weight of {metric} is {weight!r}, not a number >= 0")
    total = math.fsum(weights.values())
    require(abs(total - 1.0) <= 1e-12, f"the weights sum to {total!r}, not 1 (they must be normalised)")

    for metric in sorted(deltas):
        entry = deltas[metric]
        require(metric in HIGHER_IS_BETTER, f"unknown metric {metric!r}")
        require(isinstance(entry, dict) and set(entry) == _METRIC_KEYS,
                 f"metric_deltas.{metric} must have exactly {', '.join(sorted(_METRIC_KEYS))}")
        base, new = entry["baseline_value"], entry["new_value"]
        require(is_number(base) and is_number(new), f"{metric}: baseline_value and new_value must be finite numbers")
        higher = HIGHER_IS_BETTER[metric]
        expected = {
            "absolute_delta": new - base,
            "relative_delta": None if base == 0 else (new - base) / abs(base),
            "higher_is_better": higher,
            "improvement": new > base if higher else new < base,
            "direction_aware_delta": direction_aware_delta(metric, base, new),
        }
        for key, value in expected.items():
            require(
                _same(entry[key], value),
                f"{metric}.{key} is {entry[key]!r} but the recorded values ({base!r} -> {new!r}) give {value!r}",
            )

    primary = evaluation.get("primary_metric")
    require(primary in deltas, f"primary_metric {primary!r} is not among the metric deltas")
    primary_delta = deltas[primary]["direction_aware_delta"]
    require(
        _same(evaluation.get("primary_delta"), primary_delta),
        f"primary_delta is {evaluation.get('primary_delta')!r}, but {primary}'s direction-aware delta is {primary_delta!r}",
    )
    terms = [weights[m] * deltas[m]["direction_aware_delta"] for m in sorted(deltas)]
    score = math.fsum(terms)
    recorded = evaluation.get("delta_one_score")
    require(is_number(recorded), f"delta_one_score is {recorded!r}, not a finite number")
    tolerance = SCORE_REL_TOLERANCE * max(abs(score), math.fsum(abs(t) for t in terms))
    require(
        abs(recorded - score) <= tolerance,
        f"delta_one_score is {recorded!r} but the weighted mean of the direction-aware deltas is {score!r}",
    )
    return f"{len(deltas)} metric(s) and delta_one_score {recorded!r} recomputed"


def _accepted(evaluation: Mapping[str, Any]) -> bool:
    accepted = evaluation.get("accepted")
    require(isinstance(accepted, bool), f"accepted is {accepted!r}, not true or false")
    return accepted


def check_bps_rounding(ctx: Context) -> str:
    evaluation = _evaluation(ctx)
    accepted = _accepted(evaluation)
    score, bps = evaluation.get("delta_one_score"), evaluation.get("delta_one_bps")
    require(is_number(score), f"delta_one_score is {score!r}, not a finite number")
    require(is_int(bps), f"delta_one_bps is {bps!r}, not an integer")
    expected = score_to_bps(score) if accepted else 0
    rule = "round-half-even(delta_one_score x 10000)" if accepted else "0 (not accepted)"
    require(bps == expected, f"delta_one_bps is {bps}, expected {expected} = {rule}")
    return f"delta_one_bps {bps} = {rule}"


def check_decision_rule(ctx: Context) -> str:
    evaluation = _evaluation(ctx)
    accepted = _accepted(evaluation)
    significance = evaluation.get("significance")
    require(isinstance(significance, dict), "evaluation.significance is missing")
    ci_lower = significance.get("ci_lower")
    primary_delta = evaluation.get("primary_delta")
    min_improvement = evaluation.get("min_improvement")
    rows, min_rows = evaluation.get("benchmark_rows"), evaluation.get("min_benchmark_rows")
    numbers = {"significance.ci_lower": ci_lower, "primary_delta": primary_delta, "min_improvement": min_improvement}
    for name, value in numbers.items():
        require(is_number(value), f"{name} is {value!r}, not a finite number")
    require(is_int(rows) and is_int(min_rows), "benchmark_rows and min_benchmark_rows must be integers")
    require(
        rows == ctx.predicate.benchmark_rows,
        f"evaluation.benchmark_rows {rows} differs from benchmark.rows {ctx.predicate.benchmark_rows!r}",
    )
    conditions = {
        f"ci_lower {ci_lower!r} > 0": ci_lower > 0,
        f"primary_delta {primary_delta!r} >= min_improvement {min_improvement!r}": primary_delta >= min_improvement,
        f"benchmark_rows {rows} >= min_benchmark_rows {min_rows}": rows >= min_rows,
    }
    expected = all(conditions.values())
    failed = [text for text, holds in conditions.items() if not holds]
    require(
        accepted == expected,
        f"accepted is {accepted} but the rule gives {expected}"
        + (f" ({'; '.join(failed)} fails)" if failed else " (all conditions hold)"),
    )
    reasons = evaluation.get("decision_reasons")
    require(
        isinstance(reasons, list) and all(isinstance(r, str) for r in reasons),
        "decision_reasons is not a list of strings",
    )
    if accepted:
        require(reasons == [ACCEPTED_REASON], f"accepted, yet decision_reasons is {reasons!r}")
    else:
        require(
            len(reasons) == len(failed) and ACCEPTED_REASON not in reasons,
            f"{len(failed)} condition(s) fail but decision_reasons lists {len(reasons)}",
        )
    return "accepted" if accepted else f"rejected: {'; '.join(failed)} fails"
