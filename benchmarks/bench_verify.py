"""Whole-process wall time of `hokusai verify` (no --rerun) on a dry run's attestation.

Median of 5 against the 1 s target. Run with `make bench`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5
TARGET_SECONDS = 1.0


def main() -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    with tempfile.TemporaryDirectory() as home:
        env["HOKUSAI_HOME"] = home
        cli = [sys.executable, "-m", "hokusai_assets.entry.cli"]
        outcome = json.loads(subprocess.run([*cli, "run", "--dry-run"], env=env, check=True, capture_output=True).stdout)
        attestation = Path(outcome["attestation"])
        subprocess.run([*cli, "verify", str(attestation)], env=env, check=True, capture_output=True)  # warm-up
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            subprocess.run([*cli, "verify", str(attestation)], env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(f"hokusai verify (no --rerun), whole process, {RUNS} runs:")
    print(f"  median {median:.2f} s   min {min(times):.2f} s   max {max(times):.2f} s   target <= {TARGET_SECONDS:.1f} s")
    print(f"  {'OK' if median <= TARGET_SECONDS else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
