"""Benchmark of the benchmark-leakage check (hokusai_assets.lib.intake.leakage) on the bundled task.

Run: ``python benchmarks/bench_leakage.py [--rows N] [--repeat K]``. Builds a deterministic
N-row contribution for the bundled digits task (64 int features, its 600-row benchmark and
150-row baseline): rows of the example contribution with about a quarter of their pixels
moved by up to 2 (new images, none near a benchmark row), plus 1% benchmark rows with one
pixel moved by one (near copies) and 0.1% exact copies. Prints, as medians of K runs,
alternating in this process (so the ratios are what counts):

* the exact-copy check alone (what intake did before near copies counted);
* the whole check (exact, one feature apart, within the standardised distance), and each
  near-copy rule alone;
* what it found against what was planted;
* the peak memory the whole check allocates (tracemalloc, a separate untimed run) and the
  process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hokusai_assets.lib.intake.leakage import NearCopyRule, find_benchmark_copies, rows_equal_to_some  # noqa: E402
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey  # noqa: E402
from hokusai_assets.lib.intake.reading import load_reference  # noqa: E402
from hokusai_assets.settings.load import load_settings  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "hokusai_assets" / "examples" / "digits"


def contribution(example: pd.DataFrame, benchmark: pd.DataFrame, features: list[str], rows: int, seed: int = 7):
    """New images, near copies and exact copies, shuffled; and how many of each were planted."""
    rs = np.random.RandomState(seed)
    near_rows, exact_rows = rows // 100, rows // 1000
    fresh = rows - near_rows - exact_rows
    # int8 while building (pixels are 0 to 16), so building costs little beside the check's memory
    pixels = example[features].to_numpy(dtype=np.int8)[rs.randint(0, len(example), fresh)]
    for start in range(0, fresh, 100_000):
        block = pixels[start : start + 100_000]
        moved = rs.randint(-2, 3, block.shape).astype(np.int8) * (rs.rand(*block.shape) < 0.25)
        np.clip(block + moved, 0, 16, out=block)
    near = benchmark[features].to_numpy(dtype=np.int8)[rs.randint(0, len(benchmark), near_rows)]
    which = rs.randint(0, len(features), near_rows)
    current = near[np.arange(near_rows), which]
    near[np.arange(near_rows), which] = np.where(current < 16, current + 1, current - 1)
    exact = benchmark[features].to_numpy(dtype=np.int8)[rs.randint(0, len(benchmark), exact_rows)]
    shuffled = np.vstack([pixels, near, exact])[rs.permutation(rows)]
    frame = pd.DataFrame(shuffled.astype(np.int64), columns=features)  # int64, as intake conforms them
    frame["digit"] = rs.randint(0, 10, rows)
    return frame, near_rows, exact_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    settings = load_settings(config_path=EXAMPLE / "hokusai.yaml", home=Path("/nonexistent-hokusai-home"), environ={})
    schema, key = settings.schema, PiiKey.from_secret(bytes(range(32)))
    baseline, _ = load_reference(settings.baseline_path, schema, key, source="baseline")
    benchmark, _ = load_reference(settings.benchmark_path, schema, key, source="benchmark")
    example = pd.read_csv(EXAMPLE / "contribution.csv")
    features = schema.feature_names
    frame, planted_near, planted_exact = contribution(example, benchmark, features, args.rows)
    rule = settings.config.intake.policy().near_copy
    built_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(frame):,} rows x {len(features)} int features against the {len(benchmark)}-row benchmark "
        f"({frame.memory_usage(deep=True).sum() / 2**20:,.0f} MiB frame); rule {rule}"
    )

    runs = {
        "exact copies only": lambda: rows_equal_to_some(frame, benchmark, features),
        "whole check": lambda: find_benchmark_copies(frame, benchmark, baseline, schema, rule),
        "one feature apart only": lambda: find_benchmark_copies(
            frame, benchmark, baseline, schema, NearCopyRule(rule.max_differing_features, 0.0, rule.min_numeric_features)
        ),
        "within distance only": lambda: find_benchmark_copies(
            frame, benchmark, baseline, schema, NearCopyRule(0, rule.max_standardised_distance, rule.min_numeric_features)
        ),
    }
    started = time.perf_counter()
    import sklearn.neighbors  # noqa: F401  (the check imports it on first use; not counted below)

    print(f"importing scikit-learn's neighbours (once per process, on first use): {time.perf_counter() - started:.2f} s")
    times: dict[str, list[float]] = {name: [] for name in runs}
    results = {}
    for _ in range(args.repeat):  # alternating, so a busy moment of the machine hits every variant
        for name, run in runs.items():
            started = time.perf_counter()
            results[name] = run()
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    exact_only = medians["exact copies only"]
    for name, median in medians.items():
        runs_text = ", ".join(f"{t:.2f}" for t in times[name])
        print(
            f"{name:>24}: median {median:6.2f} s over {args.repeat} runs ({runs_text}), "
            f"{len(frame) / median:,.0f} rows/s, {median / exact_only:.1f}x the exact check"
        )

    whole = results["whole check"]
    report = whole.report()
    print(
        f"found {report['exact_copies']:,} exact (planted {planted_exact:,}) and {report['near_copies']:,} near copies "
        f"(planted {planted_near:,}); differing features {report['near_copy']['differing_features']}, "
        f"standardised distance {report['near_copy']['distance']}"
    )

    tracemalloc.start()
    find_benchmark_copies(frame, benchmark, baseline, schema, rule)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"whole check allocates at most {peak / 2**20:,.0f} MiB (tracemalloc peak); process peak RSS "
        f"{built_rss:,.0f} MiB once the frame was built, {peak_rss:,.0f} MiB after every check"
    )


if __name__ == "__main__":
    main()
