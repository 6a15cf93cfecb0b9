"""Model families on the bundled digits task: our trainer's fit against the plain library
fit on the same arrays, model file save and load, and the dry run with a random forest.

For each family: the median over ROUNDS of (a) ``get_trainer(...).fit`` on the baseline
training set plus the example contribution (1,197 rows, 64 features), which converts the
frame, checks it and pins thread pools, and (b) the same estimator class with the same
parameters fitted directly on the float64 arrays, alternated in one process so that both
see the same machine. The ratio (a)/(b) is the trainer's overhead (target at most 1.1).
Then the model file: ``to_bytes`` (save) and ``model_from_bytes`` (load), with the file's
size. Last, ``hokusai run --dry-run --model random_forest`` whole-process, median of 3,
beside the default model's. Run with `make bench`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROUNDS = 5
DRY_RUNS = 3
TARGET_OVERHEAD = 1.10


def digits_frame():
    """The bundled task's schema and its baseline plus example contribution, in canonical order."""
    from hokusai_assets.lib.task import canonical_order
    from hokusai_assets.settings.load import BUNDLED_CONFIG, load_settings

    settings = load_settings(config_path=BUNDLED_CONFIG, environ={})
    schema = settings.schema
    folder = BUNDLED_CONFIG.parent
    frame = pd.concat([pd.read_csv(folder / "baseline.csv"), pd.read_csv(folder / "contribution.csv")])
    return schema, canonical_order(frame[schema.columns], schema), settings.config.training.seed


def families(task_type: str) -> list[tuple[str, str]]:
    from hokusai_assets.lib.training.sklearn_trainer import SKLEARN_MODELS

    sklearn = [("sklearn", name) for name in SKLEARN_MODELS if _serves(SKLEARN_MODELS[name], task_type)]
    boosting = []
    for framework in ("xgboost", "lightgbm"):
        try:
            __import__(framework)
        except ImportError:
            print(f"[bench_families] {framework} is not installed: skipped", file=sys.stderr)
            continue
        boosting.append((framework, framework))
    return sklearn + boosting


def _serves(entry, task_type: str) -> bool:
    """Whether a SKLEARN_MODELS entry has an estimator for ``task_type`` (either table shape)."""
    if isinstance(entry, dict):
        return task_type in entry.get("estimators", entry)
    return entry[0] == task_type


def plain_fit_seconds(trainer, frame: pd.DataFrame, schema) -> float:
    """The estimator our trainer would build (the same class and parameters, the same
    Pipeline for scikit-learn), fitted straight on the float64 arrays."""
    from threadpoolctl import threadpool_limits

    X = frame[schema.feature_names].to_numpy(dtype="float64")
    y = frame[schema.label].to_numpy()
    if hasattr(trainer, "framework"):  # XGBoost / LightGBM take class indices
        from hokusai_assets.lib.training.boosting_files import FAMILIES

        classes, y = np.unique(y, return_inverse=True)
        objective = FAMILIES[trainer.framework].objective(schema.task_type, len(classes))
        estimator, _ = trainer._estimator(schema.task_type, objective)
    else:
        estimator = trainer._estimator(schema)
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - started


def measure_family(framework: str, model: str, schema, frame: pd.DataFrame, seed: int) -> dict:
    from hokusai_assets.lib.training.model import model_from_bytes
    from hokusai_assets.lib.training.trainers import get_trainer

    trainer = get_trainer(framework, model, {}, seed)
    ours, plain, saves, loads = [], [], [], []
    fitted = None
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fitted = trainer.fit(frame, schema)
        ours.append(time.perf_counter() - started)
        plain.append(plain_fit_seconds(trainer, frame, schema))
        started = time.perf_counter()
        data = fitted.to_bytes()
        saves.append(time.perf_counter() - started)
        started = time.perf_counter()
        loaded = model_from_bytes(data)
        loads.append(time.perf_counter() - started)
    assert np.array_equal(loaded.predict_features(frame), fitted.predict_features(frame))
    return {
        "ours": statistics.median(ours),
        "plain": statistics.median(plain),
        "save": statistics.median(saves),
        "load": statistics.median(loads),
        "bytes": len(data),
    }


def dry_run_seconds(model: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_", "MLFLOW_"))}
    command = [sys.executable, "-m", "hokusai_assets.entry.cli", "run", "--dry-run"]
    if model:
        command += ["--model", model]
    with tempfile.TemporaryDirectory() as home:
        env["HOKUSAI_HOME"] = home
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> int:
    schema, frame, seed = digits_frame()
    print(
        f"model families on the bundled digits task ({len(frame):,} rows, {len(schema.feature_names)} features), "
        f"median of {ROUNDS}, one thread:"
    )
    print(f"{'family':<34}{'ours s':>9}{'plain s':>9}{'ratio':>7}{'save ms':>9}{'load ms':>9}{'file KB':>9}")
    worst = 0.0
    for framework, model in families(schema.task_type):
        figures = measure_family(framework, model, schema, frame, seed)
        ratio = figures["ours"] / figures["plain"]
        worst = max(worst, ratio)
        print(
            f"{framework + ' ' + model:<34}{figures['ours']:>9.3f}{figures['plain']:>9.3f}{ratio:>7.2f}"
            f"{figures['save'] * 1000:>9.1f}{figures['load'] * 1000:>9.1f}{figures['bytes'] / 1024:>9.0f}"
        )
    verdict = "met" if worst <= TARGET_OVERHEAD else "missed"
    print(f"target: trainer overhead at most {TARGET_OVERHEAD:.2f}x the plain fit: {verdict} (worst {worst:.2f})")

    dry_run_seconds(None)  # untimed: bytecode and MLflow's cached empty store
    default = [dry_run_seconds(None) for _ in range(DRY_RUNS)]
    forest = [dry_run_seconds("random_forest") for _ in range(DRY_RUNS)]
    print(
        f"hokusai run --dry-run, whole process, median of {DRY_RUNS}: logistic_regression "
        f"{statistics.median(default):.2f} s, random_forest {statistics.median(forest):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
