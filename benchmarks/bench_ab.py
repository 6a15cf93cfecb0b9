"""What an A/B experiment costs `hokusai serve`: requests/s with an experiment running (50/50,
shadow off) against none, on the same server process and the same requests.

Two attested versions of the mock task's model are registered (the contribution, then the
same rows with a little noise); one `hokusai serve` answers throughout. Every request
carries a `unit_id`, a new one each time, so with the experiment on every request is routed
by its keyed hash and is a first exposure to be written: the worst case for the bookkeeping.
Without an experiment the same bodies are answered by the champion. The two states alternate
(off, on, off, on, ...) for ROUNDS rounds per mix, so drift of the shared machine falls on
both; the figures are the medians of the rounds and their ratio. Mixes are bench_serving.py's
`warm` (90% of rows from a pool of 50: mostly cache hits, where routing weighs most) and
`cold` (every row new: a model call each). Exits 0 when the target is missed: it reports.

The sequential test's own figures (false declarations under peeking, power) come from
`lib/experiments/simulation.py` and are printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_serving import CONCURRENCY, WARMUP_SECONDS, bodies, hokusai_server, load, prepare  # noqa: E402

ROUNDS = 3
SECONDS = 8.0
MIXES = ("warm", "cold")
TARGET_RATIO = 0.90  # requests/s with the experiment on, over off


def log(message: str) -> None:
    print(f"[bench_ab] {message}", file=sys.stderr, flush=True)


def second_version(setup, root: Path) -> None:
    """Register version 2: the contribution with a little seeded noise, evaluated and attested."""
    import pandas as pd

    from hokusai_assets.entry.runner import evaluate_file
    from hokusai_assets.lib.intake.contributions import Contributor
    from hokusai_assets.lib.samples.mock_task import write_mock_task
    from hokusai_assets.settings.load import load_settings

    task = write_mock_task(root / "task")  # the same task files prepare() wrote: deterministic
    settings = load_settings(config_path=setup.config, home=setup.home, environ={})
    rows = pd.read_csv(task.contribution_path)
    noise = np.random.RandomState(7).normal(0.0, 0.1, (len(rows), len(setup.feature_names)))
    path = root / "second.csv"
    rows.assign(**{c: (rows[c] + noise[:, i]).round(4) for i, c in enumerate(setup.feature_names)}).to_csv(path, index=False)
    outcome = evaluate_file(settings, path, Contributor(wallet=task.wallet))
    log(f"version 2 from partition {outcome.partition} (accepted: {outcome.accepted})")


def with_unit_ids(next_body, prefix: str):
    """The mix's bodies, each with a new ``unit_id`` in front."""
    counter = itertools.count()

    def body() -> bytes:
        rest = next_body()
        return b'{"unit_id": "%s-%d", ' % (prefix.encode(), next(counter)) + rest[1:]

    return body


def sequential_test_figures() -> list[str]:
    from hokusai_assets.lib.experiments.simulation import simulate_peeking

    started = time.perf_counter()
    aa = simulate_peeking(2000, 100, 10_000, 0.10, 0.10, alpha=0.05, seed=1)
    # A small arm with a rare event: where a plug-in variance would fool the test.
    aa_small = simulate_peeking(2000, 100, 10_000, 0.02, 0.02, alpha=0.05, seed=3, a_share=0.9)
    power = simulate_peeking(1000, 100, 20_000, 0.10, 0.12, alpha=0.05, seed=2)
    took = time.perf_counter() - started
    return [
        f"A/A, 2,000 experiments, a look every 100 units up to 10,000 (alpha 0.05): mSPRT declared "
        f"{aa.msprt_declared_share:.2%}, the fixed-horizon z test {aa.fixed_horizon_declared_share:.2%} "
        f"(Monte-Carlo SE {aa.monte_carlo_se:.2%})",
        f"A/A at 90/10 with a 2% conversion rate, the same looks: mSPRT declared {aa_small.msprt_declared_share:.2%}, "
        f"the fixed-horizon z test {aa_small.fixed_horizon_declared_share:.2%}",
        f"power, 10% vs 12% conversion, 1,000 experiments up to 20,000 units: B declared better in "
        f"{power.share_declared(1):.1%}, median units to a decision {power.median_units_to_declare:,.0f} "
        f"(simulations: {took:.1f} s)",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help="timed seconds per round and state")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args()
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    root = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    rates: dict[tuple[str, str], list[float]] = {}
    try:
        try:
            setup = prepare(root)
            second_version(setup, root)
        except Exception as error:  # noqa: BLE001 - a benchmark reports, it does not trace back
            print(f"set-up failed: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        from hokusai_assets.api import Experiments

        experiments = Experiments(setup.config, setup.home)
        server, path, key, _ = hokusai_server(setup, root)
        server.start()
        try:
            url = server.url + path
            for mix in MIXES:
                asyncio.run(load(url, with_unit_ids(bodies(mix, setup.feature_names, key, True), "w"), WARMUP_SECONDS, 4))
                for round_ in range(args.rounds):
                    for state in ("off", "on"):
                        running = None
                        if state == "on":
                            running = experiments.start(
                                f"bench-{mix}-{round_}", a="champion", b="2", split="50/50",
                                metric="conversion", kind="binary", actor="bench",
                            )
                            time.sleep(1.0)  # the server picks it up within alias_refresh_seconds
                        next_body = with_unit_ids(bodies(mix, setup.feature_names, key, False), f"{mix}{round_}{state}")
                        result = asyncio.run(load(url, next_body, args.seconds, args.concurrency))
                        rates.setdefault((mix, state), []).append(result.rate)
                        log(f"{mix} round {round_ + 1} experiment {state}: {result.rate:.1f} req/s, "
                            f"{sum(result.errors.values())} errors")
                        if running is not None:
                            status = experiments.status(running["id"])
                            exposed = sum(arm["exposed_units"] for arm in status["arms"])
                            log(f"  {exposed:,} exposures written, arms {[a['exposed_units'] for a in status['arms']]}")
                            experiments.stop(running["id"], actor="bench", reason="round over")
                            time.sleep(1.0)
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"A/B routing benchmark: one hokusai serve, concurrency {args.concurrency}, {args.rounds} alternating rounds "
          f"of {args.seconds:g} s per state, a new unit id per request")
    print(f"{'mix':<6} {'off req/s':>10} {'on req/s':>10} {'on/off':>7}")
    ratios = {}
    for mix in MIXES:
        off, on = statistics.median(rates[(mix, "off")]), statistics.median(rates[(mix, "on")])
        ratios[mix] = on / off if off else 0.0
        print(f"{mix:<6} {off:>10.1f} {on:>10.1f} {ratios[mix]:>7.2f}")
    met = all(ratio >= TARGET_RATIO for ratio in ratios.values())
    print(f"target: at most 10% fewer requests/s with the experiment on: {'met' if met else 'MISSED'}")
    for line in sequential_test_figures():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
