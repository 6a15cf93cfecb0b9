"""What an experiment's numbers mean: continue, B better, A better, a guardrail breach or a
sample-ratio mismatch, and what may follow automatically.

The order is deliberate. A sample-ratio mismatch comes first: when the arms did not get the
traffic the split promised, assignment or logging is broken and no comparison of the arms
can be trusted (a guardrail breach is still named in it, and still rolls back). A guardrail
breach comes next: a faster-converting model that fails its
latency budget is not a winner. Only then is the sequential test read, and only once each
arm has ``min_units`` units (a guard against acting on the first handful of outcomes, on
top of the test's own validity). Shadow experiments never declare a winner: B's answers
were never shown, so the outcomes only describe A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hokusai_assets.lib.experiments.spec import ExperimentSpec
from hokusai_assets.lib.experiments.statistics import SRM_ALERT_P, SequentialResult

CONTINUE = "continue"
B_BETTER = "b_better"
A_BETTER = "a_better"
GUARDRAIL_BREACH = "guardrail_breach"
SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"
OUTCOMES = (CONTINUE, B_BETTER, A_BETTER, GUARDRAIL_BREACH, SAMPLE_RATIO_MISMATCH)

PROMOTE, ROLLBACK = "promote", "rollback"
# How an experiment stopped by its own rollback records why (the stop reason starts so); alerts read it.
AUTOMATIC_ROLLBACK_REASON = "automatic rollback"


@dataclass(frozen=True)
class Decision:
    outcome: str
    detail: str
    breaches: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "detail": self.detail, "breaches": list(self.breaches)}


def guardrail_breaches(spec: ExperimentSpec, values: dict[str, float | None], b_requests: int) -> list[str]:
    """The guardrails arm B violates, once it has served ``guardrail_min_requests`` requests."""
    if b_requests < spec.guardrail_min_requests:
        return []
    breaches = []
    for guardrail in spec.guardrails:
        value = values.get(guardrail.metric)
        if value is not None and not guardrail.holds(value):
            breaches.append(f"{guardrail.metric} of B is {value:g}, the guardrail is {guardrail}")
    return breaches


def decide(
    spec: ExperimentSpec,
    result: SequentialResult,
    srm_p_value: float | None,
    guardrail_values: dict[str, float | None],
    b_requests: int,
) -> Decision:
    # Judged whatever else is wrong: a mismatch outranks a breach as the outcome, but a slow or
    # failing B is measured by the servers, not by the split, and must still be rolled back.
    breaches = guardrail_breaches(spec, guardrail_values, b_requests)
    if srm_p_value is not None and srm_p_value < SRM_ALERT_P:
        return Decision(
            SAMPLE_RATIO_MISMATCH,
            f"the arms' exposure counts do not fit the {spec.split} split (chi-square p = {srm_p_value:.2g} "
            f"< {SRM_ALERT_P}): check assignment and logging before reading any result"
            + "".join(f"; and {breach}" for breach in breaches),
            tuple(breaches),
        )
    if breaches:
        return Decision(GUARDRAIL_BREACH, "; ".join(breaches), tuple(breaches))
    if spec.shadow:
        return Decision(CONTINUE, "shadow experiment: B is scored but never served, so no winner is declared")
    fewest = min(result.a.n, result.b.n)
    if fewest < spec.min_units:
        return Decision(
            CONTINUE, f"{fewest} of the {spec.min_units} units per arm needed before a winner (--min-units)"
        )
    if not result.decisive:
        return Decision(
            CONTINUE,
            f"no difference shown yet (always-valid p = {result.p_value:.3g}, alpha = {spec.alpha})",
        )
    b_wins = (result.effect > 0) == spec.higher_is_better
    return Decision(
        B_BETTER if b_wins else A_BETTER,
        f"{spec.metric}: B - A = {result.effect:+.4g} (always-valid {1 - spec.alpha:.0%} CI "
        f"{result.ci_low:+.4g} to {result.ci_high:+.4g}, p = {result.p_value:.3g})",
    )


def automatic_action(spec: ExperimentSpec, decision: Decision) -> str | None:
    """What the experiment was allowed to do on its own for this decision, if anything."""
    if decision.breaches and spec.auto_rollback:  # a breach, also under a sample-ratio mismatch
        return ROLLBACK
    if decision.outcome == B_BETTER and spec.auto_promote:
        return PROMOTE
    return None
