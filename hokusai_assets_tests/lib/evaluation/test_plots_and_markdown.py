"""Comparison plots (valid, deterministic PNGs) and the CI-style metrics table."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from hokusai_assets.lib.errors import EvaluationError
from hokusai_assets.lib.evaluation.markdown import delta_comparison_markdown
from hokusai_assets.lib.evaluation.metrics import Predictions
from hokusai_assets.lib.evaluation.plots import (
    CONFUSION_MATRICES_PNG,
    RESIDUALS_PNG,
    ROC_CURVES_PNG,
    _roc,
    comparison_plots,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def classification(k: int, *, n: int = 600, noise: float = 1.0, seed: int = 0, labels=None) -> Predictions:
    """A noisy classifier whose true class gets a logit bonus; proba is a softmax."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) * noise
    logits[np.arange(n), y] += 2.0
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    names = np.arange(k) if labels is None else np.asarray(labels)
    return Predictions(names[y], names[proba.argmax(axis=1)], proba, names)


def regression(*, n: int = 600, spread: float = 1.0, seed: int = 0) -> Predictions:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n) * 3
    return Predictions(y, y + rng.normal(size=n) * spread)


def decoded(png: bytes) -> tuple[int, int]:
    """(width, height) after decoding with both PIL and Matplotlib's reader."""
    import matplotlib.image
    from PIL import Image

    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        size = image.size
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (size[1], size[0])
    assert pixels.std() > 0  # something was drawn
    return size


@pytest.fixture(scope="module")
def multiclass_plots() -> dict[str, bytes]:
    return comparison_plots(
        "classification", classification(10, noise=1.5), classification(10, seed=1), title="10 classes"
    )


def test_multiclass_gives_confusion_matrices_and_roc_curves(multiclass_plots):
    assert list(multiclass_plots) == [CONFUSION_MATRICES_PNG, ROC_CURVES_PNG]
    assert decoded(multiclass_plots[CONFUSION_MATRICES_PNG]) == (1000, 500)
    assert decoded(multiclass_plots[ROC_CURVES_PNG]) == (1000, 500)


def test_binary_with_string_labels():
    plots = comparison_plots(
        "classification",
        classification(2, noise=1.5, labels=["no", "yes"]),
        classification(2, seed=1, labels=["no", "yes"]),
    )
    assert list(plots) == [CONFUSION_MATRICES_PNG, ROC_CURVES_PNG]
    assert decoded(plots[CONFUSION_MATRICES_PNG]) == (1000, 500)
    assert decoded(plots[ROC_CURVES_PNG]) == (650, 600)


def test_regression_gives_residuals():
    plots = comparison_plots("regression", regression(), regression(spread=0.5, seed=1), title="r")
    assert list(plots) == [RESIDUALS_PNG]
    assert decoded(plots[RESIDUALS_PNG]) == (1100, 800)


def test_models_without_probabilities_or_with_absent_classes_still_get_every_file():
    full = classification(4, labels=["w", "x", "y", "z"], seed=3)
    rows = full.y_true != "z"  # class z has no benchmark row: no one-vs-rest curve for it
    improved = Predictions(full.y_true[rows], full.y_pred[rows], full.proba[rows], full.classes)
    baseline = Predictions(full.y_true[rows], full.y_pred[rows])  # no predict_proba
    plots = comparison_plots("classification", baseline, improved)
    assert list(plots) == [CONFUSION_MATRICES_PNG, ROC_CURVES_PNG]
    for png in plots.values():
        decoded(png)
    binary = classification(2)
    no_proba = Predictions(binary.y_true, binary.y_pred)
    assert decoded(comparison_plots("classification", no_proba, no_proba)[ROC_CURVES_PNG]) == (650, 600)


def test_png_bytes_are_deterministic_and_ignore_the_global_style(multiclass_plots):
    import matplotlib

    again = comparison_plots(
        "classification", classification(10, noise=1.5), classification(10, seed=1), title="10 classes"
    )
    assert again == multiclass_plots
    before = dict(matplotlib.rcParams)
    with matplotlib.rc_context({"lines.linewidth": 7.0, "font.size": 20.0, "image.cmap": "magma"}):
        styled = comparison_plots(
            "classification", classification(10, noise=1.5), classification(10, seed=1), title="10 classes"
        )
    assert styled == multiclass_plots
    assert dict(matplotlib.rcParams) == before  # our style does not leak out
    for png in multiclass_plots.values():
        assert b"Software" not in png and b"tIME" not in png
    reg = comparison_plots("regression", regression(), regression(seed=2))
    assert reg == comparison_plots("regression", regression(), regression(seed=2))


def test_roc_area_matches_scikit_learn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(7)
    positive = rng.random(500) < 0.3
    score = np.round(rng.random(500) + positive * 0.4, 2)  # rounded: plenty of ties
    fpr, tpr, auc = _roc(positive, score)
    assert auc == pytest.approx(roc_auc_score(positive, score), abs=1e-12)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_bad_inputs_are_refused_with_a_code():
    with pytest.raises(EvaluationError) as info:
        comparison_plots("ranking", regression(), regression())
    assert info.value.code == "E_EVAL_UNKNOWN_TASK"
    words = Predictions(np.array(["a", "b"]), np.array(["a", "a"]))
    with pytest.raises(EvaluationError) as info:
        comparison_plots("regression", words, words)
    assert info.value.code == "E_EVAL_BAD_PREDICTIONS"


METRIC_DELTAS = {
    "accuracy": {
        "baseline_value": 0.8, "new_value": 0.85, "absolute_delta": 0.05,
        "relative_delta": 0.0625, "higher_is_better": True, "improvement": True,
        "direction_aware_delta": 0.05,
    },
    "mse": {
        "baseline_value": 2.0, "new_value": 2.5, "absolute_delta": 0.5,
        "relative_delta": 0.25, "higher_is_better": False, "improvement": False,
        "direction_aware_delta": -0.25,
    },
    "mae": {
        "baseline_value": 0.0, "new_value": 0.0, "absolute_delta": 0.0,
        "relative_delta": None, "higher_is_better": False, "improvement": False,
        "direction_aware_delta": 0.0,
    },
    "f1": {
        "baseline_value": 0.7, "new_value": 0.65, "absolute_delta": -0.05,
        "relative_delta": -0.05 / 0.7, "higher_is_better": True, "improvement": False,
        "direction_aware_delta": -0.05,
    },
}


def test_markdown_table_rows_and_verdicts():
    table = delta_comparison_markdown(METRIC_DELTAS)
    lines = table.splitlines()
    assert lines[0] == "| metric | baseline | improved | Δ | verdict |"
    assert lines[1] == "|:--|--:|--:|--:|:--|"
    assert lines[2] == "| accuracy ↑ | 0.8000 | 0.8500 | +0.0500 (+6.25%) | ✅ improved |"
    # A higher MSE is worse, whatever the sign of the delta.
    assert lines[3] == "| mse ↓ | 2.0000 | 2.5000 | +0.5000 (+25.00%) | ❌ worse |"
    assert lines[4] == "| mae ↓ | 0.0000 | 0.0000 | 0.0000 | ➖ unchanged |"  # no relative delta
    assert lines[5] == "| f1 ↑ | 0.7000 | 0.6500 | -0.0500 (-7.14%) | ❌ worse |"
    assert lines[6] == ""
    assert lines[7].startswith("**1 improved, 2 worse, 1 unchanged**")
    assert table.endswith("\n")


def test_markdown_from_compute_delta_output_and_bad_entries():
    from hokusai_assets.lib.evaluation.delta import EvaluationPolicy, compute_delta

    y = np.array([1.0, 2.0, 3.0, 4.0] * 10)
    policy = EvaluationPolicy(
        metrics=("mse", "r2"), weights={}, primary_metric="mse", bootstrap_resamples=50,
        min_benchmark_rows=1,
    )
    result = compute_delta("regression", policy, Predictions(y, y + 0.5), Predictions(y, y + 0.1))
    table = delta_comparison_markdown(result["metric_deltas"])
    assert "| mse ↓ | 0.2500 | 0.0100 | -0.2400 (-96.00%) | ✅ improved |" in table
    assert "| r2 ↑ |" in table and table.count("✅") == 2
    assert delta_comparison_markdown({}).startswith("_No metrics")
    with pytest.raises(EvaluationError) as info:
        delta_comparison_markdown({"mse": {"baseline_value": 1.0}})
    assert info.value.code == "E_EVAL_BAD_METRIC_DELTAS"


def test_importing_the_module_does_not_import_matplotlib():
    probe = (
        "import sys, hokusai_assets.lib.evaluation.plots\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
