"""The effect of B over A with its always-valid interval at each review: the experiment's plot
in the Dagster UI (defs/assets/ab_experiments.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hokusai_assets.lib.experiments.spec import ExperimentSpec

# Weeks of reviews are thousands of points; the chart shows at most this many, evenly
# spread, the first and the latest always among them.
MAX_PLOTTED_REVIEWS = 500


def _finite(value: Any) -> float:
    return float(value) if value is not None and math.isfinite(float(value)) else math.nan


def _thinned(history: Sequence[Mapping[str, Any]], limit: int) -> list[Mapping[str, Any]]:
    if len(history) <= limit:
        return list(history)
    step = (len(history) - 1) / (limit - 1)
    return [history[round(i * step)] for i in range(limit)]


def effect_plot_png(history: Sequence[Mapping[str, Any]], spec: ExperimentSpec, reviews: int | None = None) -> bytes:
    """The effect of B over A at each review (``store.snapshots``), its always-valid interval as a
    band and a zero line; a side of the interval that is still unbounded leaves a gap.
    ``reviews``: how many there were in all, when ``history`` is a selection of them.

    Drawn with the comparison plots' helpers (lib/evaluation/plots.py): Agg canvas, Matplotlib's
    default style, no time stamp, so the same reviews give the same bytes."""
    from matplotlib.ticker import MaxNLocator

    from hokusai_assets.lib.evaluation.plots import figure_style, new_figure, png_bytes

    shown = _thinned(history, MAX_PLOTTED_REVIEWS)
    x = [int(s["seq"]) for s in shown]
    effect, low, high = (
        [_finite(s.get("test", {}).get(name)) for s in shown] for name in ("effect", "ci_low", "ci_high")
    )
    with figure_style():
        figure = new_figure((8.0, 3.6), f"{spec.name} ({spec.id}): {spec.metric}, B - A")
        axes = figure.subplots(1, 1, gridspec_kw=dict(left=0.11, right=0.98, bottom=0.15, top=0.84))
        axes.axhline(0.0, color="black", linewidth=0.8)
        if shown:
            axes.fill_between(
                x, low, high, color="#1f77b4", alpha=0.2, linewidth=0,
                label=f"always-valid {1 - spec.alpha:.0%} interval",
            )  # fmt: skip
            axes.plot(x, effect, color="#1f77b4", marker="o" if len(x) <= 60 else None, markersize=3, label="effect")
            if len(x) == 1 and not math.isnan(low[0]) and not math.isnan(high[0]):
                axes.vlines(x, low, high, color="#1f77b4", alpha=0.5)  # one review: the band has no width
            axes.legend(loc="upper left")
        else:
            axes.text(0.5, 0.5, "no review of the running experiment yet", ha="center", va="center",
                      transform=axes.transAxes)  # fmt: skip
            axes.set_yticks([])
        total = max(reviews or 0, len(history))
        if len(shown) < total:
            axes.set_title(f"{len(shown)} of {total} reviews shown", fontsize=9, loc="right")
        if len(x) <= 1:
            axes.set_xticks(x)
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("review (snapshot number)")
        axes.set_ylabel(f"mean of B - mean of A ({spec.metric})")
        return png_bytes(figure)
