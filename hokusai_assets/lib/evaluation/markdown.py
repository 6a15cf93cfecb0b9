"""Markdown that people read: in the Dagster UI (asset metadata) and in MLflow (the run's comparison).

One renderer per table, so the UI and MLflow say the same thing the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from hokusai_assets.lib.errors import EvaluationError


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain table; floats with 4 decimals, None as a dash."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        if value is None:
            return "-"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_markdown(table: pd.DataFrame) -> str:
    """A metrics table (``metrics.metrics_table``): metric, scope, value."""
    return markdown_table(["metric", "scope", "value"], table[["metric", "scope", "value"]].itertuples(index=False))


def delta_comparison_markdown(metric_deltas: Mapping[str, Mapping[str, Any]]) -> str:
    """A CI-report style markdown table of ``compute_delta(...)["metric_deltas"]``.

    One row per metric, in the mapping's order: baseline and improved values and the
    absolute delta with 4 decimals, the relative delta in percent (omitted when the
    baseline is 0), and a verdict: ✅ improved (moved the good way), ❌ worse, ➖ unchanged.
    The arrow after a metric name says which way is good (↑ higher, ↓ lower).
    """
    if not metric_deltas:
        return "_No metrics were compared._\n"
    lines = [
        "| metric | baseline | improved | Δ | verdict |",
        "|:--|--:|--:|--:|:--|",
    ]
    tally = {"improved": 0, "worse": 0, "unchanged": 0}
    for metric, entry in metric_deltas.items():
        try:
            base = float(entry["baseline_value"])
            new = float(entry["new_value"])
            absolute = float(entry["absolute_delta"])
            relative = entry["relative_delta"]
            higher = bool(entry["higher_is_better"])
            improved = bool(entry["improvement"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EvaluationError(
                f"metric_deltas[{metric!r}] is not a compute_delta entry ({exc!r}); pass "
                "compute_delta(...)['metric_deltas'] unchanged.",
                code="E_EVAL_BAD_METRIC_DELTAS",
            ) from exc
        if improved:
            verdict = "✅ improved"
        elif absolute == 0:
            verdict = "➖ unchanged"
        else:
            verdict = "❌ worse"
        tally[verdict.split()[1]] += 1
        delta = _signed(absolute)
        if relative is not None:
            delta += f" ({_signed(float(relative) * 100, 2)}%)"
        name = str(metric).replace("|", "\\|")
        arrow = "↑" if higher else "↓"
        lines.append(f"| {name} {arrow} | {base:.4f} | {new:.4f} | {delta} | {verdict} |")
    lines.append("")
    lines.append(
        f"**{tally['improved']} improved, {tally['worse']} worse, {tally['unchanged']} unchanged** "
        "(↑ higher is better, ↓ lower is better)"
    )
    return "\n".join(lines) + "\n"


def delta_summary_markdown(delta: Mapping[str, Any]) -> str:
    """The delta at a glance: DeltaOne and the decision, the primary metric's interval, the
    per-metric comparison, and why it was (not) accepted."""
    significance = delta["significance"]
    verdict = "accepted" if delta["accepted"] else "not accepted"
    summary = (
        f"**DeltaOne {delta['delta_one_score']:.6f}** ({delta['delta_one_bps']} bps, {verdict}); "
        f"{delta['primary_metric']} {significance['confidence']:.0%} CI "
        f"[{significance['ci_lower']:.4f}, {significance['ci_upper']:.4f}] over {delta['benchmark_rows']} benchmark rows"
    )
    reasons = "\n".join(f"- {reason}" for reason in delta["decision_reasons"])
    return summary + "\n\n" + delta_comparison_markdown(delta["metric_deltas"]) + "\n" + reasons


def _signed(value: float, decimals: int = 4) -> str:
    text = f"{value:+.{decimals}f}"
    # Exact zero reads as no change; a tiny change keeps its sign even if it rounds to 0.
    return f"{0.0:.{decimals}f}" if value == 0 else text
