"""Whole-process wall time of `hokusai run --dry-run`, each in a fresh HOKUSAI_HOME.

Prints the median of 5 runs (and min/max) against the 5 s target. Run with `make bench`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5
TARGET_SECONDS = 5.0


def time_dry_run(home: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    env["HOKUSAI_HOME"] = str(home)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hokusai_assets.cli", "run", "--dry-run"], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    # One untimed run first, so that bytecode compilation is not counted against run 1.
    with tempfile.TemporaryDirectory() as warm:
        time_dry_run(Path(warm))
    times = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as home:
            times.append(time_dry_run(Path(home)))
    median = statistics.median(times)
    print(f"dry run (hokusai run --dry-run, fresh home, whole process), {RUNS} runs:")
    print(f"  median {median:.2f} s   min {min(times):.2f} s   max {max(times):.2f} s   target <= {TARGET_SECONDS:.1f} s")
    print(f"  {'OK' if median <= TARGET_SECONDS else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
