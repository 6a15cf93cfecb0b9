"""Whole-process wall time of `hokusai run --dry-run`, each in a fresh HOKUSAI_HOME, and
the share of it spent waiting for MLflow.

For each framework (scikit-learn, then torch) prints the median (and min/max) of the
whole process, and the median share of that time spent in the `mlflow_run` step: the
wall time Dagster reports for the step (logging, plots, model registration, and any wait
for the tracking worker to be ready), divided by the whole process's. Run with
`make bench`.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = {"sklearn": 5, "torch": 3}
TARGET_SECONDS = 5.0  # issue 2's budget for the scikit-learn dry run
TARGET_MLFLOW_SHARE = 0.20  # issue 5
_STEP = re.compile(r'Finished execution of step "mlflow_run" in ([0-9.]+)(ms|s)')


def time_dry_run(home: Path, framework: str) -> tuple[float, float]:
    """(whole-process seconds, seconds of the mlflow_run step)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_", "MLFLOW_"))}
    env["HOKUSAI_HOME"] = str(home)
    command = [sys.executable, "-m", "hokusai_assets.entry.cli", "run", "--dry-run", "--framework", framework, "-v"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    match = _STEP.search(done.stderr)
    if match is None:
        raise SystemExit("the mlflow_run step did not report its duration; is tracking on?")
    value, unit = float(match.group(1)), match.group(2)
    return elapsed, value / 1000 if unit == "ms" else value


def main() -> int:
    # One untimed run first: bytecode compilation and MLflow's cached empty store
    # (built once per user and MLflow version) are not counted against run 1.
    with tempfile.TemporaryDirectory() as warm:
        time_dry_run(Path(warm), "sklearn")
    for framework, runs in RUNS.items():
        totals, shares = [], []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as home:
                total, mlflow_seconds = time_dry_run(Path(home), framework)
            totals.append(total)
            shares.append(mlflow_seconds / total)
        median, share = statistics.median(totals), statistics.median(shares)
        print(f"dry run, framework {framework} (hokusai run --dry-run, fresh home, whole process), {runs} runs:")
        print(f"  median {median:.2f} s   min {min(totals):.2f} s   max {max(totals):.2f} s", end="")
        print(f"   target <= {TARGET_SECONDS:.1f} s" if framework == "sklearn" else "")
        print(
            f"  time in the mlflow_run step: median share {share:.1%} "
            f"(min {min(shares):.1%}, max {max(shares):.1%})   target <= {TARGET_MLFLOW_SHARE:.0%}"
        )
        verdicts = [share <= TARGET_MLFLOW_SHARE] + ([median <= TARGET_SECONDS] if framework == "sklearn" else [])
        print(f"  {'OK' if all(verdicts) else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
