"""Benchmark of a reward epoch's valuation on the bundled digits task.

Run: ``python benchmarks/bench_rewards.py [--repeat 3] [--skip-large]``. Prints, measured in one run:

* **8 contributions, 8 players (256 coalitions, exact Shapley)**: the wall time of the whole
  valuation (``services/epoch_valuation.value_epoch``, no cache: clusters, 256 coalition
  fits, leave-one-out, KNN-Shapley), the time spent inside the trainer's ``fit``, and the
  ratio of the whole to the 256 coalition fits alone (target: at most 1.5).
* the same values from pyDVL's exact grouped Shapley on the same (memoised) utility, if
  pyDVL is importable (``benchmarks/pydvl_reference.py`` says how to install it beside the
  pinned stack), with the largest difference from ours.
* **30 contributions, 30 players**: truncated Monte Carlo within ``rewards.max_fits``: fits,
  permutations, wall time, and every value with its standard error.

Everything is deterministic (seeded k-means, seeded permutations, fixed trainer seed);
times vary between machines, ratios much less.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hokusai_assets.lib.rewards.epoch_rows import EpochMember, epoch_rows  # noqa: E402
from hokusai_assets.lib.task import canonical_order  # noqa: E402
from hokusai_assets.services import epoch_valuation  # noqa: E402
from hokusai_assets.settings.load import BUNDLED_CONFIG, load_settings  # noqa: E402

EXAMPLE = BUNDLED_CONFIG.parent


def digits_settings(directory: Path, players: int, max_fits: int):
    for name in ("baseline.csv", "benchmark.csv", "contribution.csv"):
        shutil.copy(EXAMPLE / name, directory / name)
    config = yaml.safe_load(BUNDLED_CONFIG.read_text())
    config["rewards"] = {"pool": 10**21, "players": players, "max_fits": max_fits, "exact_max": 10}
    (directory / "hokusai.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return load_settings(config_path=directory / "hokusai.yaml", home=directory / "home", environ={})


def epoch_of(settings, contributions: int):
    schema = settings.schema
    baseline = canonical_order(pd.read_csv(settings.baseline_path), schema)
    benchmark = canonical_order(pd.read_csv(settings.benchmark_path), schema)
    rows = pd.read_csv(EXAMPLE / "contribution.csv")
    members = [
        EpochMember(f"c-{i:016x}", i, f"0x{i + 1:040x}", rows.iloc[i::contributions].reset_index(drop=True))
        for i in range(contributions)
    ]
    table, accounts = epoch_rows(members, schema, set(), 6)
    return table, accounts, baseline, benchmark


class TimedTrainer:
    """Wraps get_trainer so every fit's wall time is recorded (the benchmark's only instrument)."""

    def __init__(self) -> None:
        self.fit_seconds: list[float] = []
        self._get_trainer = epoch_valuation.get_trainer

    def __call__(self, *args, **kwargs):
        return _TimedFit(self._get_trainer(*args, **kwargs), self.fit_seconds)


class _TimedFit:
    def __init__(self, trainer, times: list[float]) -> None:
        self._trainer, self._times = trainer, times

    def fit(self, frame, schema):
        started = time.perf_counter()
        try:
            return self._trainer.fit(frame, schema)
        finally:
            self._times.append(time.perf_counter() - started)


def exact_epoch(directory: Path, repeat: int) -> dict:
    import sklearn.cluster  # noqa: F401 - imported before timing: an import is not valuation work

    settings = digits_settings(directory, players=8, max_fits=1024)
    table, accounts, baseline, benchmark = epoch_of(settings, 8)
    runs = []
    for _ in range(repeat):
        timed = TimedTrainer()
        epoch_valuation.get_trainer = timed
        started = time.perf_counter()
        values = epoch_valuation.value_epoch(settings, table, accounts, baseline, benchmark, use_cache=False)
        total = time.perf_counter() - started
        epoch_valuation.get_trainer = timed._get_trainer
        runs.append(
            (total, sum(timed.fit_seconds), timed.fit_seconds[: 2 ** len(values["players"])], len(timed.fit_seconds))
        )
    total, inside, coalition_fits, fits = sorted(runs, key=lambda run: run[0])[len(runs) // 2]  # the median run
    ratios = sorted(run[0] / sum(run[2]) for run in runs)
    print(
        f"epoch of 8 contributions, {len(table)} new rows, {len(values['players'])} players (exact Shapley); median of {repeat} runs"
    )
    print(f"  whole valuation           {total:8.2f} s  ({fits} fits: 256 coalitions + leave-one-out)")
    print(f"  inside fit, all fits      {inside:8.2f} s  ({inside / total:.0%} of the wall time)")
    print(
        f"  the 256 coalition fits    {sum(coalition_fits):8.2f} s  (median {statistics.median(coalition_fits) * 1000:.0f} ms per fit)"
    )
    print(
        f"  whole / 256 fits          {statistics.median(ratios):8.2f} x  (target <= 1.5; runs: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"  efficiency gap            {values['valuation']['efficiency_gap']:.1e}")
    return {"settings": settings, "values": values}


def compare_with_pydvl(run: dict) -> None:
    from pydvl_reference import grouped_exact_shapley, pydvl_available, pydvl_unavailable_reason  # beside this script

    version = pydvl_available()
    if version is None:
        print(f"  pyDVL not installed ({pydvl_unavailable_reason()}): its 0.10.0 caps numpy below 2, so it is not a")
        print(
            "  dependency; benchmarks/pydvl_reference.py says how to install it beside the pinned stack for this comparison"
        )
        return
    utilities = {frozenset(c["players"]): c["utility"] for c in run["values"]["coalitions"]}
    started = time.perf_counter()
    theirs = grouped_exact_shapley(len(run["values"]["players"]), utilities.__getitem__)
    elapsed = time.perf_counter() - started
    ours = [p["value"] for p in run["values"]["players"]]
    gap = max(abs(a - b) for a, b in zip(ours, theirs))
    print(
        f"  pyDVL {version} exact grouped Shapley on the same utilities: max |ours - pyDVL| = {gap:.1e} ({elapsed:.2f} s of arithmetic)"
    )


def sampled_epoch(directory: Path) -> None:
    settings = digits_settings(directory, players=30, max_fits=1024)
    table, accounts, baseline, benchmark = epoch_of(settings, 30)
    started = time.perf_counter()
    values = epoch_valuation.value_epoch(settings, table, accounts, baseline, benchmark, use_cache=False)
    total = time.perf_counter() - started
    valuation = values["valuation"]
    print(f"epoch of 30 contributions, {len(table)} new rows, {len(values['players'])} players ({valuation['method']})")
    loo = sum(entry is not None for entry in values["leave_one_out"].values())
    skipped = len(values["leave_one_out"]) - loo
    print(
        f"  {valuation['fits']} coalition fits + {loo} leave-one-out ({skipped} skipped) = {valuation['fits'] + loo} "
        f"within rewards.max_fits {valuation['max_fits']}; {valuation['permutations']} permutations; {total:.1f} s"
    )
    print("  player  rows     value   std. error")
    for p in values["players"]:
        error = "n/a" if p["standard_error"] is None else f"{p['standard_error']:.5f}"
        print(f"  {p['player']:>6} {p['rows']:>5} {p['value']:>9.5f}   {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true", help="skip the 30-player epoch")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the 8-player epoch (the median is printed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rewards-") as scratch:
        exact, sampled = Path(scratch) / "exact", Path(scratch) / "sampled"
        exact.mkdir()
        compare_with_pydvl(exact_epoch(exact, args.repeat))
        if not args.skip_large:
            sampled.mkdir()
            sampled_epoch(sampled)


if __name__ == "__main__":
    main()
