"""Intake figures: `hokusai validate` on a generated 1,000,000-row CSV, the sensor's schema
screen of it beside the whole intake (in one process, so the ratio is what counts), and one
sensor tick with 10,000 files in the inbox, without and with the screen.

The CSV has the mock task's 12 float features and label plus two free-text columns in
which about 5% of rows carry PII (emails, phones, cards, IBANs). Validation runs as a
whole process; its peak memory is the child's maximum resident set size.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hokusai_assets.settings.layout import HomeLayout

ROWS = 1_000_000
INBOX_FILES = 10_000
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def free_text(rs: np.random.RandomState, n: int) -> np.ndarray:
    words = np.array("the order arrived late please call back about invoice thanks regards team support".split())
    base = [" ".join(words[rs.randint(0, len(words), 8)]) for _ in range(1000)]
    text = np.array(base, dtype=object)[rs.randint(0, 1000, n)]
    pii = [
        "write to jane.doe{}@example.org",
        "call +44 20 7946 {:04d}",
        "card 4111 1111 1111 1111 ref {}",
        "iban GB82 WEST 1234 5698 7654 32 note {}",
    ]
    rows = np.flatnonzero(rs.rand(n) < 0.05)
    for i in rows:
        text[i] = text[i] + " " + pii[i % len(pii)].format(i % 10000)
    return text


def write_csv(task_dir: Path, path: Path) -> None:
    from hokusai_assets.lib.samples.mock_task import generate_rows

    rows = generate_rows("classification", ROWS, seed=11)
    rs = np.random.RandomState(12)
    rows["notes"] = free_text(rs, ROWS)
    rows["comment"] = free_text(rs, ROWS)
    rows.to_csv(path, index=False)


def time_validate(config: Path, home: Path, csv: Path) -> tuple[float, float, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [sys.executable, "-m", "hokusai_assets.entry.cli", "validate", str(csv), "--json", "--config", str(config), "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    peak_kib = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    report = json.loads(done.stdout)
    return elapsed, peak_kib / 1024, report["pii"]["total"]


def time_screen_and_intake(config: Path, home: Path, csv: Path, repeat: int = 3) -> tuple[float, float]:
    """Median seconds of the schema screen (``schema_misfit``) and of the whole intake
    (``run_intake``) on the same bytes, alternating, in this process."""
    from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
    from hokusai_assets.lib.intake.reading import load_reference
    from hokusai_assets.lib.intake.validate import IntakeReference, known_classes, run_intake, schema_misfit
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config, home=home, environ={})
    schema, policy, key = settings.schema, settings.config.intake.policy(), PiiKey.from_secret(bytes(32))
    baseline, _ = load_reference(settings.baseline_path, schema, key, source="baseline")
    benchmark, _ = load_reference(settings.benchmark_path, schema, key, source="benchmark")
    reference = IntakeReference(baseline, benchmark)
    classes = known_classes(baseline[schema.label], benchmark[schema.label])
    data = csv.read_bytes()
    screens, intakes = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        assert schema_misfit(data, "csv", csv.name, schema, policy, key, classes) is None
        screens.append(time.perf_counter() - started)
        started = time.perf_counter()
        run_intake(data, "csv", csv.name, schema, policy, key, reference)
        intakes.append(time.perf_counter() - started)
    return statistics.median(screens), statistics.median(intakes)


def materialise_reference_tables(home: Path, task_dir: Path) -> None:
    """Where prepare_baseline writes them: with these present, the sensor screens each file."""
    layout = HomeLayout(home)
    for asset, name in (("baseline_training_set", "baseline.parquet"), ("benchmark_dataset", "benchmark.parquet")):
        layout.table_file(asset).parent.mkdir(parents=True, exist_ok=True)
        layout.table_file(asset).write_bytes((task_dir / name).read_bytes())


def time_sensor_tick(home: Path, config: Path, screened: bool = False) -> tuple[float, int]:
    from hokusai_assets.lib.intake.contributions import Contributor
    from hokusai_assets.services.intake import submit_file
    from hokusai_assets.services.store import ContributionStore
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config, home=home, environ={})
    home.mkdir(parents=True, exist_ok=True)
    source = home / "one.csv"
    for i in range(INBOX_FILES):
        source.write_text(f"f01,label\n{i}.5,{i % 3}\n")
        submit_file(settings, source, Contributor(wallet=WALLET))
    store = ContributionStore.open(HomeLayout(home), environ={})
    if screened:
        materialise_reference_tables(home, config.parent)
    return time_one_tick(settings, store)


def time_one_tick(settings, store, registered: list[str] | tuple[str, ...] = ()) -> tuple[float, int]:
    """Seconds of one contribution_sensor tick on a fresh instance where the reference is
    current and ``registered`` partitions exist already, and how many runs it asked for."""
    import dagster as dg

    from hokusai_assets.defs.partitions import contributions
    from hokusai_assets.defs.sensors import intake_tick

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(contributions.name, list(registered))
        # Evaluation runs are asked for only against a current reference.
        instance.report_runless_asset_event(
            dg.AssetMaterialization("baseline_metrics", metadata={"reference_fingerprint": settings.reference_fingerprint()})
        )
        context = dg.build_sensor_context(instance=instance)
        started = time.perf_counter()
        result = intake_tick(context, settings, store)
        return time.perf_counter() - started, len(result.run_requests or [])


def main() -> int:
    from hokusai_assets.lib.samples.mock_task import write_mock_task

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        task = write_mock_task(scratch / "task")
        csv = scratch / "contribution_1m.csv"
        write_csv(scratch, csv)
        size_mb = csv.stat().st_size / 1e6
        runs = [time_validate(task.config_path, scratch / "home", csv) for _ in range(3)]
        median = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        print(f"hokusai validate, {ROWS:,} rows x 15 columns ({size_mb:.0f} MB CSV, {runs[0][2]:,} PII values), whole process, 3 runs:")
        print(f"  median {median:.2f} s   {ROWS / median:,.0f} rows/s   peak RSS {peak:,.0f} MiB   target <= 10 s and 2048 MiB")

        screen, intake = time_screen_and_intake(task.config_path, scratch / "home", csv)
        print(f"schema screen (the sensor's) vs whole intake, same {ROWS:,} rows, in process, median of 3:")
        print(f"  screen {screen:.2f} s   intake {intake:.2f} s   screen/intake {screen / intake:.2f}")

        # One tick stores at most intake.max_files_per_tick files; the rest wait for the next.
        for screened in (False, True):
            tick, requested = time_sensor_tick(scratch / f"sensor-home-{screened}", task.config_path, screened)
            print(
                f"contribution_sensor, one tick with {INBOX_FILES:,} submitted files in the inbox, "
                f"{'each stored file screened' if screened else 'reference tables not stored, so nothing screened'}:"
            )
            print(f"  {tick:.2f} s, {requested} runs requested (max_files_per_tick bounds each tick)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
