"""Benchmark of PII scanning and pseudonymisation (hokusai_assets.lib.intake.pii).

Run: ``python benchmarks/bench_pii.py [--rows N] [--repeat K]``. Builds a deterministic
frame (numpy RandomState, fixed seed) shaped like a contribution: numeric features, a
label, and two free-text columns of about 60 characters (support-ticket style, with
dates, prices, order numbers, versions and other near-misses in some rows, and some PII in
about 5% of rows), then prints the median wall time of ``scan_and_pseudonymise`` over K
runs, the time of ``find_cleartext_pii`` on the result, and the peak RSS of the process.
Target on the 2-core reference machine: 1,000,000 rows in about 3 s or less.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey  # noqa: E402
from hokusai_assets.lib.intake.pii.scanner import find_cleartext_pii, scan_and_pseudonymise  # noqa: E402

_OPENERS = [
    "Hi team,", "Hello,", "Thanks for the quick reply.", "I am writing about my last order.",
    "Quick question:", "Following up on ticket", "Great product, but", "Not happy:",
    "The parcel arrived", "Please note", "FYI, second message", "As discussed on the phone,",
    "Customer says", "Agent note:", "Update from the customer:", "Re: refund",
]
_MIDDLES = [
    "the box was damaged and one item is missing", "it works fine after the update",
    "I would like a refund or a replacement", "delivery took longer than expected",
    "the colour is not what the photo showed", "can you check the status of my account",
    "the app crashes when I open settings", "we need two more units for the office",
    "it was a gift and the size is wrong", "the invoice shows the wrong address",
    "battery lasts about a day with normal use", "I cannot log in since yesterday",
    "the courier left it at the wrong door", "five stars, would buy again",
    "the screen has a small scratch on the left", "my card was charged twice",
]
_NEAR_MISSES = [
    "order ORD-2024-{a:06d}", "on 2024-{m:02d}-{d:02d}", "at 2024-{m:02d}-{d:02d}T10:{d:02d}:00Z",
    "total ${a}.{d:02d}", "app v{m}.{d}.{m}.{d}", "version {m}.{d}.{m}", "ref #{a}",
    "id {a}{a}{m}", "zip {a:05d}", "at 10:{d:02d}", "qty {m}, price {d}.99 EUR",
    "build {m}.{d}.{a}", "tracking 1Z{a:06d}{m:02d}", "uuid 123e4567-e89b-12d3-a456-4266141{a:05d}",
]
_PII = [
    "mail me at jane.{a}@example.com", "call +44 20 7946 {s:04d}", "phone (415) 555-{s:04d}",
    "ssn 123-45-{s:04d}", "ip 10.{m}.{d}.{m}", "card 4111 1111 1111 1111",
    "iban GB82 WEST 1234 5698 7654 32", "from 2001:db8::{s:x}",
    "key 0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f3{a:05x}",
    "words: abandon ability able about above absent absorb abstract absurd abuse access zoo",
]


def _fragments(pool: list[str], rng: np.random.RandomState, count: int) -> np.ndarray:
    templates = rng.randint(0, len(pool), count)
    a = rng.randint(1, 99999, count)
    m = rng.randint(1, 13, count)
    d = rng.randint(1, 29, count)
    return np.array(
        [
            pool[t].format(a=int(x), m=int(y), d=int(z), s=int(x) % 9999 + 1)
            for t, x, y, z in zip(templates, a, m, d)
        ],
        dtype=object,
    )


def free_text(rows: int, rng: np.random.RandomState) -> np.ndarray:
    openers = np.array(_OPENERS, dtype=object)[rng.randint(0, len(_OPENERS), rows)]
    middles = np.array(_MIDDLES, dtype=object)[rng.randint(0, len(_MIDDLES), rows)]
    text = openers + " " + middles
    near = np.flatnonzero(rng.random_sample(rows) < 0.15)
    text[near] = text[near] + " " + _fragments(_NEAR_MISSES, rng, len(near))
    pii = np.flatnonzero(rng.random_sample(rows) < 0.025)  # two columns: ~5% of rows
    text[pii] = text[pii] + ", " + _fragments(_PII, rng, len(pii))
    text[rng.random_sample(rows) < 0.02] = None
    return text


def contribution_frame(rows: int, seed: int = 20240601) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame({f"f{i}": rng.normal(size=rows) for i in range(8)})
    frame["count"] = rng.randint(0, 1000, rows)
    frame["label"] = rng.randint(0, 2, rows)
    frame["comment"] = free_text(rows, rng)
    frame["agent_note"] = free_text(rows, rng)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    frame = contribution_frame(args.rows)
    text_bytes = sum(frame[c].str.len().sum() for c in ("comment", "agent_note"))
    print(
        f"generated {len(frame):,} rows x 2 free-text columns "
        f"({text_bytes / len(frame) / 2:.0f} chars per cell on average) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    key = PiiKey.from_secret(bytes(range(32)))

    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        result, report = scan_and_pseudonymise(frame, key)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    started = time.perf_counter()
    left = find_cleartext_pii(result)
    check_time = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"scan_and_pseudonymise: median {median:.2f} s over {args.repeat} runs "
          f"({', '.join(f'{t:.2f}' for t in times)}), {len(frame) / median:,.0f} rows/s")
    print(f"found {report.total():,} values: {report.by_entity()}")
    print(f"find_cleartext_pii on the result: {check_time:.2f} s, left in clear: {left or 'none'}")
    print(f"peak RSS: {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
