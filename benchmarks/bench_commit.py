"""Micro-benchmark of the data commitment (hokusai_assets.lib.commitments.merkle.data_root).

Run: ``python benchmarks/bench_commit.py [--rows N] [--repeat K]``. Builds deterministic
frames (fixed seed) and prints the median wall time of ``data_root`` (K runs for the
large frame, at least 25 for the small one) and rows per second:

* a 1,000,000 x 12 mixed frame: floats (with NaN, integral values, tiny and large
  magnitudes), ints (with a few beyond 2**53), strings (labels and free text with quotes,
  newlines and non-ASCII), bools and nulls;
* a 1,000 x 13 float frame, the small case.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hokusai_assets.lib.commitments.merkle import data_root  # noqa: E402

_WORDS = (
    "the quick brown fox jumps over a lazy dog while données café naïve 東京 🚀 "
    'said "hello" back\\slash tab\tand line\nbreak price 42 ok'
).split(" ")


_CITIES = ["Kyōto", "Osaka", "Tōkyō", "Nara", None]


def mixed_frame(rows: int, seed: int = 20240601) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def with_nan(values: np.ndarray, share: float) -> np.ndarray:
        values = values.astype(np.float64)
        values[rng.random(rows) < share] = np.nan
        return values

    big_ints = rng.integers(-(2**40), 2**40, rows)
    big_ints[rng.random(rows) < 0.001] = 2**60 + 1  # beyond 2**53: written as strings
    words = np.array(_WORDS, dtype=object)
    lengths = rng.integers(3, 15, rows)
    picks = rng.integers(0, len(words), (rows, 15))
    free_text = np.array(
        [" ".join(words[p[:n]]) for p, n in zip(picks, lengths)], dtype=object
    )
    free_text[rng.random(rows) < 0.05] = None
    return pd.DataFrame(
        {
            "label": rng.integers(0, 2, rows),
            "f_normal": rng.normal(size=rows),
            "f_nan": with_nan(rng.normal(100, 30, rows), 0.1),
            "f_rounded": np.round(rng.random(rows) * 1000, 2),
            "f_integral": with_nan(rng.integers(0, 500, rows), 0.02),
            "f_tiny": rng.random(rows) * 1e-7,
            "f_large": rng.random(rows) * 1e13,
            "count": rng.integers(0, 10_000, rows),
            "id": big_ints,
            "flag": rng.random(rows) < 0.3,
            "city": rng.choice(np.array(_CITIES, dtype=object), rows),
            "note": free_text,
        }
    )


def float_frame(rows: int, cols: int = 13, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"x{i:02d}": rng.normal(size=rows) for i in range(cols)})


def median_time(frame: pd.DataFrame, repeat: int) -> tuple[float, str]:
    columns = list(frame.columns)
    times = []
    root = ""
    for _ in range(repeat):
        start = time.perf_counter()
        root = data_root(frame, columns)
        times.append(time.perf_counter() - start)
    return statistics.median(times), root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data_root(float_frame(10), list(float_frame(10).columns))  # warm up imports and caches
    cases = [
        (f"mixed {args.rows:,} x 12", mixed_frame(args.rows), args.repeat),
        ("float 1,000 x 13", float_frame(1_000), max(args.repeat, 25)),
    ]
    for name, frame, repeat in cases:
        seconds, root = median_time(frame, repeat)
        print(
            f"{name:>24}: median {seconds * 1000:9.1f} ms of {repeat}  "
            f"{len(frame) / seconds:14,.0f} rows/s  {root[:23]}..."
        )


if __name__ == "__main__":
    main()
