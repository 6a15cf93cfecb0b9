"""A burst of contributions under the platform as deployed, and the sensor tick at 10,000 stored.

The webserver and daemon run with the repo's dagster.yaml (two runs at once, run retries,
run monitoring) on the mock task. After one warm-up contribution (which also waits for the
reference to be prepared), BURST_GOOD good files and ten bad ones are submitted at once with
`hokusai submit` (several submitters side by side). Printed: contributions per minute (all
files, from the first submit to the last file's ending, attested or quarantined), the p50
and p95 of submit-to-attestation of the good ones, whether the outcome is the required one
(as e2e/test_burst.py checks it) and whether each good file's attestation equals the one
`hokusai evaluate` makes of it alone (in another home, one file after another); then one
contribution_sensor tick with 10,000 contributions already stored and registered (and one
new file in the inbox). Exits 1 if the outcome or an attestation is not as required.

    make bench            # all benchmarks
    .venv/bin/python benchmarks/bench_burst.py [--good N] [--stored N] [--no-compare]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hokusai_assets_tests.e2e.burst import (  # noqa: E402
    attestation_bytes,
    evaluate_one_at_a_time,
    outcome_problems,
    settled,
    submit_all,
    write_burst_files,
)
from hokusai_assets_tests.e2e.platform import FIXED_KEYS, RUN_TIMEOUT, Platform, wait_for, write_platform_task  # noqa: E402

BURST_GOOD = 90
TARGET_PER_MINUTE = 20.0
STORED = 10_000
TARGET_TICK_SECONDS = 2.0


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``share`` of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)]


def run_burst(root: Path, good: int, compare: bool) -> bool:
    """Run the burst and print its figures; whether its outcome was the one required."""
    from hokusai_assets.settings.layout import HomeLayout

    task = write_platform_task(root / "task")
    files = write_burst_files(task, root / "burst", good=good)
    with Platform(root / "home", task.config_path, extra_env=FIXED_KEYS) as platform:
        layout = HomeLayout(platform.home)
        warm_up = platform.submit(task.contribution_path, wallet=task.wallet)
        wait_for(lambda: warm_up in platform.materialized_partitions("attestation"), RUN_TIMEOUT, "the warm-up attestation")
        wait_for(lambda: not platform.unfinished_runs(), RUN_TIMEOUT, "the warm-up runs finishing")
        print(f"burst: {good} good and {len(files) - good} bad files, `hokusai submit` x {len(files)}", file=sys.stderr)
        started = time.time()
        submitted = submit_all(files, platform.env)
        submitted_in = time.time() - started
        outcome = wait_for(
            lambda: settled(platform, submitted, layout.quarantine, layout.inbox),
            RUN_TIMEOUT + 20 * len(files),
            "every burst file attested or quarantined",
            interval=1.0,
        )
        quarantine_times = [
            datetime.fromisoformat(reason["quarantined_at"]).timestamp()
            for reasons in outcome.quarantined.values()
            for reason in reasons
            if "quarantined_at" in reason
        ]
        ended = max([t for times in outcome.attestations.values() for t in times] + quarantine_times)
        latencies = [
            min(outcome.attestations[item.partition]) - item.at for item in submitted if item.file.expected == "attested"
        ]
        problems = outcome_problems(outcome, submitted, layout.quarantine)
        attested = {s.partition: attestation_bytes(layout, s.partition) for s in submitted if s.file.expected == "attested"}
    elapsed = ended - started
    per_minute = len(files) / elapsed * 60
    print(f"{len(files)} contributions submitted in {submitted_in:.1f} s; all settled {elapsed:.1f} s after the first submit")
    print(f"  {per_minute:.1f} contributions/min   target >= {TARGET_PER_MINUTE:.0f}")
    print(
        f"  submit-to-attestation of the {len(latencies)} good: p50 {statistics.median(latencies):.1f} s   "
        f"p95 {percentile(latencies, 0.95):.1f} s   max {max(latencies):.1f} s"
    )
    print("  outcome: " + ("each good file attested once, each bad one quarantined with its code, inbox empty, no run left"
                           if not problems else "; ".join(problems)))
    if compare:
        print(f"evaluating the {len(attested)} good files one at a time to compare", file=sys.stderr)
        os.environ.update(FIXED_KEYS)
        good_files = [s.file for s in submitted if s.file.expected == "attested"]
        reference = evaluate_one_at_a_time(root / "one-at-a-time", task.config_path, good_files)
        differing = sorted(key for key in attested if attested[key] != reference.get(key))
        print(f"  attestations equal to one-at-a-time `hokusai evaluate`: {len(attested) - len(differing)} of {len(attested)}")
        problems += [f"{key}: other bytes than one at a time" for key in differing]
    return not problems


def time_tick_with_stored(root: Path, stored: int) -> tuple[float, int]:
    """One contribution_sensor tick with ``stored`` contributions stored and registered, one new in the inbox."""
    from bench_intake import time_one_tick  # beside this script

    from hokusai_assets.lib.intake.contributions import Contributor
    from hokusai_assets.lib.samples.mock_task import write_mock_task
    from hokusai_assets.services.intake import submit_file
    from hokusai_assets.services.store import ContributionStore
    from hokusai_assets.settings.layout import HomeLayout
    from hokusai_assets.settings.load import load_settings

    task = write_mock_task(root / "tick-task")
    home = root / "tick-home"
    settings = load_settings(config_path=task.config_path, home=home, environ=FIXED_KEYS)
    store = ContributionStore.open(HomeLayout(home), environ=FIXED_KEYS)
    contributor = Contributor(wallet=task.wallet)
    keys = [store.put_bytes(f"f01,label\n{i}.5,{i % 3}\n".encode(), "c.csv", contributor)[0].key for i in range(stored)]
    source = root / "new.csv"
    source.write_text("f01,label\n-1.5,0\n")
    submit_file(settings, source, contributor)
    return time_one_tick(settings, store, registered=keys)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--good", type=int, default=BURST_GOOD, help="good files in the burst (ten bad ones join them)")
    parser.add_argument("--stored", type=int, default=STORED, help="contributions stored before the timed sensor tick")
    parser.add_argument("--no-compare", action="store_true", help="skip evaluating each good file one at a time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        as_required = run_burst(Path(root), args.good, compare=not args.no_compare)
        print(f"storing {args.stored:,} contributions for the sensor tick", file=sys.stderr)
        tick, requested = time_tick_with_stored(Path(root), args.stored)
        print(f"contribution_sensor, one tick with {args.stored:,} contributions stored and one new file:")
        print(f"  {tick:.2f} s, {requested} run(s) requested   target < {TARGET_TICK_SECONDS:.0f} s")
    return 0 if as_required else 1


if __name__ == "__main__":
    sys.exit(main())
