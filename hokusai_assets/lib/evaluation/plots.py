"""Baseline-versus-improved pictures: confusion matrices, ROC curves, residuals.

Contract
--------
* :func:`comparison_plots` draws the baseline and the improved model side by side, on the
  same benchmark rows, and returns PNG bytes keyed by file name:

  - ``"classification"`` -> ``confusion_matrices.png`` (rows = true label, columns =
    predicted label, both models on one colour scale, counts written in the cells when
    there are at most 12 classes) and ``roc_curves.png`` (binary: one curve per model,
    positive class ``classes[1]`` as in :mod:`metrics`; multiclass: one panel per model
    with a faint one-vs-rest curve per class and a bold macro-average curve). AUCs in the
    legend are computed the way :func:`metrics.compute_metrics` computes ``auroc``
    (binary AUC, or the unweighted mean of the one-vs-rest AUCs). A model without
    probabilities gets a panel that says so instead of a curve, so the key set never
    depends on the model.
  - ``"regression"`` -> ``residuals.png``: residuals (``y_true - y_pred``) against the
    prediction with a zero line, then residual histograms on shared bins; the two models
    share axes so their spreads compare at a glance.

* The bytes are deterministic: fixed figure size and dpi, Matplotlib's built-in default
  style (a user's ``matplotlibrc`` cannot change the picture) and no ``Software`` or time
  stamp in the PNG metadata. Same inputs and same Matplotlib give the same bytes.

Matplotlib is imported inside the functions (about 0.3 s) and drawn through
``Figure`` + ``FigureCanvasAgg`` directly: no pyplot, so no global figure registry and no
interactive backend is ever selected.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from hokusai_assets.lib.errors import EvaluationError
from hokusai_assets.lib.evaluation.metrics import CLASSIFICATION, TASK_TYPES, Predictions, regression_arrays

CONFUSION_MATRICES_PNG = "confusion_matrices.png"
ROC_CURVES_PNG = "roc_curves.png"
RESIDUALS_PNG = "residuals.png"

DPI = 100
_WIDE = (10.0, 5.0)  # inches; 1000 x 500 px at DPI
_TALL = (11.0, 8.0)  # 1100 x 800 px
_SQUARE = (6.5, 6.0)  # 650 x 600 px, for the single panel of a binary ROC
_ANNOTATE_MAX_CLASSES = 12
_MAX_TICK_LABEL = 14  # characters; longer class names are shortened on the axes
_BASELINE_COLOUR = "#1f77b4"
_IMPROVED_COLOUR = "#ff7f0e"
_STYLE = {
    "font.size": 10.0,
    "axes.titlesize": 11.0,
    "figure.titlesize": 13.0,
    "axes.grid": False,
    "legend.fontsize": 8.5,
    "legend.framealpha": 0.9,
}


# ----------------------------------------------------------------------------- public


def comparison_plots(
    task_type: str, baseline: Predictions, improved: Predictions, *, title: str = ""
) -> dict[str, bytes]:
    """PNG figures comparing ``baseline`` with ``improved``, keyed by artifact file name."""
    if task_type not in TASK_TYPES:
        raise EvaluationError(
            f"unknown task type {task_type!r}; use one of {', '.join(TASK_TYPES)}.",
            code="E_EVAL_UNKNOWN_TASK",
        )
    with figure_style():
        if task_type == CLASSIFICATION:
            return {
                CONFUSION_MATRICES_PNG: png_bytes(_confusion_figure(baseline, improved, title)),
                ROC_CURVES_PNG: png_bytes(_roc_figure(baseline, improved, title)),
            }
        return {RESIDUALS_PNG: png_bytes(_residual_figure(baseline, improved, title))}


def warm_up() -> None:
    """Import Matplotlib's drawing machinery now (about 0.5 s), not on the first plot."""
    import matplotlib.style  # noqa: F401
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401


# ----------------------------------------------------------------------------- plumbing


@contextmanager
def figure_style() -> Iterator[None]:
    """Matplotlib's own defaults plus a few sizes, restored afterwards.

    Starting from ``rcParamsDefault`` (not the live rcParams) keeps the bytes independent
    of a user's matplotlibrc or a style another library set.
    """
    import matplotlib.style

    # "default" is Matplotlib's reserved name for rcParamsDefault (minus non-style keys
    # such as the backend); context() restores the previous rcParams on exit.
    with matplotlib.style.context(["default", _STYLE]):
        yield


def new_figure(size: tuple[float, float], title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed margins rather than a layout engine: the figure size is fixed and tick labels
    # are shortened to _MAX_TICK_LABEL characters, and constrained layout would cost an
    # extra measuring pass (about a third of the drawing time).
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    if title:
        fig.suptitle(title, y=0.985)
    return fig


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    # Software=None drops the only varying chunk (Matplotlib's version); Agg writes no time.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _short(label: Any) -> str:
    text = str(label)
    return text if len(text) <= _MAX_TICK_LABEL else text[: _MAX_TICK_LABEL - 1] + "…"


def _sorted_labels(*arrays: np.ndarray | None) -> np.ndarray:
    """Every label seen, sorted (by string when the labels do not compare with each other)."""
    parts = [np.asarray(a) for a in arrays if a is not None]
    both = np.concatenate(parts)
    try:
        return np.unique(both)
    except TypeError:  # e.g. ints mixed with strings in an object column
        seen = {(type(v).__name__, str(v)): v for v in both.tolist()}
        return np.array([seen[k] for k in sorted(seen)], dtype=object)


def _panel_message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


# ----------------------------------------------------------------------------- confusion


def _confusion(preds: Predictions, labels: np.ndarray) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels.tolist())}
    rows = np.fromiter((index[v] for v in preds.y_true.tolist()), dtype=np.intp, count=preds.n_rows)
    cols = np.fromiter((index[v] for v in preds.y_pred.tolist()), dtype=np.intp, count=preds.n_rows)
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, (rows, cols), 1)
    return matrix


def _confusion_figure(baseline: Predictions, improved: Predictions, title: str):
    labels = _sorted_labels(
        baseline.y_true, baseline.y_pred, baseline.classes,
        improved.y_true, improved.y_pred, improved.classes,
    )
    matrices = [_confusion(baseline, labels), _confusion(improved, labels)]
    vmax = max(1, int(max(m.max() for m in matrices)))
    k = len(labels)
    tick_size = float(np.clip(160 / k, 5, 10))
    names = [_short(v) for v in labels.tolist()]
    rotate = k * max(len(n) for n in names) > 30  # would the x labels collide?

    fig = new_figure(_WIDE, title)
    # Two square matrices and a colour bar, placed in inches: room on the left for class
    # names, below for rotated ones; both matrices have the same rows, so the right one
    # needs no row labels of its own.
    width, height = _WIDE
    side, left, gap, bottom = 3.3, 1.6, 0.3, 1.0

    def rect(x: float, w: float) -> tuple[float, float, float, float]:
        return (x / width, bottom / height, w / width, side / height)

    axes = [fig.add_axes(rect(left, side)), fig.add_axes(rect(left + side + gap, side))]
    colour_bar_axes = fig.add_axes(rect(left + 2 * side + 2 * gap, 0.15))
    image = None
    for ax, name, matrix in zip(axes, ("baseline", "improved"), matrices):
        image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=vmax, interpolation="nearest")
        accuracy = np.trace(matrix) / max(1, matrix.sum())
        ax.set_title(f"{name} — accuracy {accuracy:.4f}")
        ax.set_xlabel("predicted label")
        ax.set_xticks(range(k), names, fontsize=tick_size,
                      rotation=45 if rotate else 0, ha="right" if rotate else "center",
                      rotation_mode="anchor")
        ax.set_yticks(range(k), names if ax is axes[0] else [], fontsize=tick_size)
        if k <= _ANNOTATE_MAX_CLASSES:
            cell_size = float(np.clip(120 / k, 6, 11))
            for (i, j), count in np.ndenumerate(matrix):
                # in_layout=False: the cells lie inside the axes, so the layout need not
                # measure them (that halves the drawing time at 10 classes).
                ax.text(j, i, str(count), ha="center", va="center", fontsize=cell_size,
                        color="white" if count > vmax / 2 else "black", in_layout=False)
    axes[0].set_ylabel("true label")
    fig.colorbar(image, cax=colour_bar_axes, label="rows")
    return fig


# ----------------------------------------------------------------------------- roc


def _roc(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve and its trapezoidal area, as scikit-learn's roc_curve/roc_auc_score.

    Tied scores form one threshold; the area equals ``roc_auc_score`` exactly (dropping
    collinear points, as scikit-learn does, does not change it).
    """
    order = np.argsort(-score, kind="mergesort")
    score, positive = score[order], positive[order]
    last_of_threshold = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(positive)[last_of_threshold]
    fps = last_of_threshold + 1 - tps
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return fpr, tpr, auc


def _roc_unavailable(preds: Predictions) -> str | None:
    """Why this model cannot have a ROC curve, or None when it can."""
    if preds.proba is None or preds.classes is None:
        return "no predicted probabilities\n(the model has no predict_proba)"
    if len(preds.classes) < 2:
        return f"the model knows one class only ({preds.classes.tolist()})"
    return None


def _binary_roc(preds: Predictions) -> tuple[np.ndarray, np.ndarray, float] | str:
    reason = _roc_unavailable(preds)
    if reason:
        return reason
    positive = preds.y_true == preds.classes[1]
    if positive.all() or not positive.any():
        return "the benchmark has one class only"
    return _roc(positive, preds.proba[:, 1])


def _ovr_rocs(preds: Predictions) -> list[tuple[Any, np.ndarray, np.ndarray, float]] | str:
    reason = _roc_unavailable(preds)
    if reason:
        return reason
    curves = []
    for column, label in enumerate(preds.classes.tolist()):
        positive = preds.y_true == label
        if positive.any() and not positive.all():  # otherwise this class has no curve
            curves.append((label, *_roc(positive, preds.proba[:, column])))
    return curves or "no class has both positive and negative rows"


def _is_binary(baseline: Predictions, improved: Predictions) -> bool:
    known = [p.classes for p in (baseline, improved) if p.classes is not None]
    if known:
        return all(len(classes) == 2 for classes in known)
    labels = _sorted_labels(baseline.y_true, baseline.y_pred, improved.y_true, improved.y_pred)
    return len(labels) <= 2


def _roc_figure(baseline: Predictions, improved: Predictions, title: str):
    if _is_binary(baseline, improved):
        return _binary_roc_figure(baseline, improved, title)
    return _multiclass_roc_figure(baseline, improved, title)


def _chance_line(ax) -> None:
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance (AUC 0.5)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")


def _binary_roc_figure(baseline: Predictions, improved: Predictions, title: str):
    fig = new_figure(_SQUARE, title)
    ax = fig.add_axes((0.13, 0.1, 0.82, 0.76))
    notes = []
    positives = set()
    for name, preds, colour in (
        ("baseline", baseline, _BASELINE_COLOUR),
        ("improved", improved, _IMPROVED_COLOUR),
    ):
        curve = _binary_roc(preds)
        if isinstance(curve, str):
            notes.append(f"{name}: {curve.splitlines()[0]}")
            continue
        fpr, tpr, auc = curve
        positives.add(_short(preds.classes[1]))
        ax.plot(fpr, tpr, color=colour, linewidth=2,
                label=f"{name} (AUC {auc:.4f})")
    _chance_line(ax)
    ax.set_title("ROC" + (f", positive class {' / '.join(sorted(positives))}" if positives else "")
                 + ("" if not notes else "\n" + "; ".join(notes)))
    ax.legend(loc="lower right")
    return fig


def _multiclass_roc_figure(baseline: Predictions, improved: Predictions, title: str):
    import matplotlib

    fig = new_figure(_WIDE, title)
    # Not shared axes: a panel without a curve clears its ticks, which must not clear the
    # other's; both have the same fixed [0, 1] limits anyway.
    axes = fig.subplots(1, 2, gridspec_kw=dict(left=0.07, right=0.98, bottom=0.11, top=0.85,
                                               wspace=0.15))
    labels = _sorted_labels(baseline.classes, improved.classes)
    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    colour_of = {v: cmap(i % cmap.N) for i, v in enumerate(labels.tolist())}
    label_classes = len(labels) <= 10  # beyond that the legend is longer than the plot
    for ax, name, preds, colour in (
        (axes[0], "baseline", baseline, _BASELINE_COLOUR),
        (axes[1], "improved", improved, _IMPROVED_COLOUR),
    ):
        curves = _ovr_rocs(preds)
        if isinstance(curves, str):
            _panel_message(ax, f"{name}: ROC unavailable\n{curves}")
            ax.set_title(name)
            continue
        for label, fpr, tpr, auc in curves:
            ax.plot(fpr, tpr, color=colour_of[label], linewidth=1, alpha=0.55,
                    label=f"{_short(label)} ({auc:.3f})" if label_classes else None)
        # Macro-average curve: mean TPR over the union of every class's FPR points.
        grid = np.unique(np.concatenate([fpr for _, fpr, _, _ in curves]))
        mean_tpr = np.mean([np.interp(grid, fpr, tpr) for _, fpr, tpr, _ in curves], axis=0)
        macro_auc = float(np.mean([auc for *_, auc in curves]))
        ax.plot(np.r_[0.0, grid], np.r_[0.0, mean_tpr], color=colour, linewidth=2.5,
                label=f"macro-average (AUC {macro_auc:.4f})")
        _chance_line(ax)
        skipped = len(preds.classes) - len(curves)
        ax.set_title(f"{name} — one-vs-rest ROC"
                     + (f"\n({skipped} class(es) without benchmark rows: no curve)" if skipped else ""))
        handles, texts = ax.get_legend_handles_labels()
        # Macro-average first: it is the line the AUC in the metrics refers to.
        order = [texts.index(t) for t in texts if t.startswith("macro")] + [
            i for i, t in enumerate(texts) if not t.startswith("macro")
        ]
        ax.legend([handles[i] for i in order], [texts[i] for i in order], loc="lower right",
                  fontsize=7 if label_classes and len(curves) > 5 else 8.5)
    return fig


# ----------------------------------------------------------------------------- residuals


def _regression_arrays(name: str, preds: Predictions) -> tuple[np.ndarray, np.ndarray]:
    try:
        return regression_arrays(preds)
    except EvaluationError as exc:
        raise EvaluationError(f"{name}: {exc.message}", code=exc.code) from exc


def _residual_figure(baseline: Predictions, improved: Predictions, title: str):
    series = []
    for name, preds, colour in (
        ("baseline", baseline, _BASELINE_COLOUR),
        ("improved", improved, _IMPROVED_COLOUR),
    ):
        y_true, y_pred = _regression_arrays(name, preds)
        series.append((name, colour, y_pred, y_true - y_pred))
    every_residual = np.concatenate([r for *_, r in series])
    n_bins = int(np.clip(np.sqrt(max(len(r) for *_, r in series)), 10, 50))
    bins = np.histogram_bin_edges(every_residual, bins=n_bins)

    fig = new_figure(_TALL, title)
    axes = fig.subplots(2, 2, gridspec_kw=dict(left=0.07, right=0.98, bottom=0.07, top=0.9,
                                               hspace=0.3, wspace=0.2))
    scatter_axes, hist_axes = axes[0], axes[1]
    scatter_axes[1].sharex(scatter_axes[0])
    scatter_axes[1].sharey(scatter_axes[0])
    hist_axes[1].sharex(hist_axes[0])
    hist_axes[1].sharey(hist_axes[0])
    marker_size = float(np.clip(4000 / len(every_residual), 2, 16))
    for (name, colour, y_pred, residual), scatter, hist in zip(series, scatter_axes, hist_axes):
        mae = float(np.mean(np.abs(residual)))
        rmse = float(np.sqrt(np.mean(residual**2)))
        scatter.scatter(y_pred, residual, s=marker_size, color=colour, alpha=0.5, linewidths=0)
        scatter.axhline(0.0, color="black", linewidth=1)
        scatter.set_title(f"{name} — MAE {mae:.4f}, RMSE {rmse:.4f}")
        scatter.set_xlabel("predicted value")
        scatter.set_ylabel("residual (true − predicted)")
        hist.hist(residual, bins=bins, color=colour, alpha=0.8)
        hist.axvline(0.0, color="black", linewidth=1)
        hist.axvline(float(np.mean(residual)), color="black", linestyle="--", linewidth=1,
                     label=f"mean residual {np.mean(residual):+.4f}")
        hist.set_xlabel("residual (true − predicted)")
        hist.set_ylabel("rows")
        hist.legend(loc="upper right")
    return fig
