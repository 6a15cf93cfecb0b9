"""A burst of contributions for the load test and `benchmarks/bench_burst.py`.

Good files are fresh rows of the mock task (one wallet each, no row shared with the baseline,
the benchmark or another file), so each one's attestation depends only on its own bytes and
the reference, and equals a one-at-a-time `hokusai evaluate` of it. Bad files pass
`hokusai submit` (readable extension, within the size limit) and are stopped later, by the
sensor's schema screen or by a blocking check of their run, each for its own reason.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hokusai_assets.lib.attestation.bundle import REPRODUCIBLE_FILES
from hokusai_assets.lib.samples.mock_task import (
    BASELINE_ROWS,
    BENCHMARK_ROWS,
    CONTRIBUTION_ROWS,
    MockTask,
    generate_rows,
)

REPO = Path(__file__).resolve().parents[2]
# Rows per good file: enough for the quality floors and a measurable improvement, few enough
# that a run trains in well under a second.
GOOD_ROWS = 120
# `hokusai submit` processes at once: the burst is many users, not one loop.
SUBMITTERS = 6


@dataclass(frozen=True)
class BurstFile:
    path: Path
    wallet: str
    expected: str  # "attested", or the reason code it must be quarantined with


def burst_wallet(index: int) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address("0x" + hashlib.sha256(f"burst wallet {index}".encode()).hexdigest()[:40])


def _bad_files(task: MockTask, directory: Path) -> list[tuple[str, bytes, str]]:
    """(name, bytes, code) for ten kinds of bad file."""
    contribution = pd.read_csv(task.contribution_path)
    rows = contribution.iloc[:200].copy()
    task_dir = task.config_path.parent
    baseline = pd.read_parquet(task_dir / "baseline.parquet")
    benchmark = pd.read_parquet(task_dir / "benchmark.parquet")

    def csv(frame: pd.DataFrame) -> bytes:
        return frame.to_csv(index=False).encode()

    return [
        ("header-only.csv", csv(rows.iloc[:0]), "E_DATA_EMPTY"),
        ("ragged.csv", csv(rows.iloc[:3]) + b"1,2,3\n", "E_FORMAT_UNREADABLE"),
        ("no-label.csv", csv(rows.drop(columns=["label"])), "E_SCHEMA_MISSING_COLUMN"),
        ("label-nine.csv", csv(rows.assign(label=9)), "E_SCHEMA_UNKNOWN_LABEL"),
        ("nan-feature.csv", csv(rows.assign(f02=np.nan)), "E_SCHEMA_MISSING_VALUE"),
        ("text-feature.csv", csv(rows.assign(f05="high")), "E_SCHEMA_TYPE"),
        ("binary.csv", bytes(range(256)) * 8, "E_FORMAT_BINARY"),
        ("broken.jsonl", b'{"f01": 1}\n{"f01": \n', "E_FORMAT_UNREADABLE"),
        ("benchmark-copy.csv", csv(benchmark.iloc[:100]), "E_INTAKE_BENCHMARK_LEAKAGE"),
        ("baseline-copy.csv", csv(baseline), "E_INTAKE_NOTHING_NEW"),
    ]


def write_burst_files(task: MockTask, directory: Path, good: int = 90, with_bad: bool = True) -> list[BurstFile]:
    """``good`` distinct good files and (``with_bad``) the ten bad ones, interleaved."""
    directory.mkdir(parents=True, exist_ok=True)
    # Rows past the ones the mock task wrote (same seed, so the same class centres).
    used = BASELINE_ROWS + BENCHMARK_ROWS + CONTRIBUTION_ROWS
    pool = generate_rows("classification", used + good * GOOD_ROWS, 0).iloc[used:]
    files = []
    for i in range(good):
        path = directory / f"good-{i:03d}.csv"
        pool.iloc[i * GOOD_ROWS : (i + 1) * GOOD_ROWS].to_csv(path, index=False)
        files.append(BurstFile(path, burst_wallet(i), "attested"))
    if with_bad:
        for j, (name, data, code) in enumerate(_bad_files(task, directory)):
            path = directory / f"bad-{j:02d}-{name}"
            path.write_bytes(data)
            # Spread the bad ones through the burst rather than at its end.
            files.insert((j + 1) * len(files) // 11, BurstFile(path, burst_wallet(1000 + j), code))
    return files


@dataclass(frozen=True)
class Submitted:
    file: BurstFile
    partition: str
    at: float  # time.time() when `hokusai submit` started


def submit_all(files: list[BurstFile], env: dict[str, str], submitters: int = SUBMITTERS) -> list[Submitted]:
    """Every file through `hokusai submit`, ``submitters`` at a time; a failed submit raises."""

    def submit(file: BurstFile) -> Submitted:
        started = time.time()
        result = subprocess.run(
            [sys.executable, "-m", "hokusai_assets.entry.cli", "submit", str(file.path), "--wallet", file.wallet],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"hokusai submit {file.path.name} failed: {result.stderr}")
        return Submitted(file, json.loads(result.stdout)["partition"], started)

    with ThreadPoolExecutor(submitters) as pool:
        return list(pool.map(submit, files))


@dataclass(frozen=True)
class BurstOutcome:
    attestations: dict[str, list[float]]  # partition -> times (Unix s) its attestation was materialised
    quarantined: dict[str, list[dict]]  # file digest -> the quarantine reasons written for it
    inbox: list[str]  # names left in the inbox
    unfinished_runs: list[dict]


def burst_outcome(platform, quarantine: Path, inbox: Path) -> BurstOutcome:
    from hokusai_assets.services.quarantine import list_quarantine

    attestations: dict[str, list[float]] = {}
    for event in platform.all_materializations("attestation"):
        attestations.setdefault(event["partition"], []).append(int(event["timestamp"]) / 1000)
    quarantined: dict[str, list[dict]] = {}
    for reason in list_quarantine(quarantine):
        quarantined.setdefault(reason["file_digest"], []).append(reason)
    names = sorted(p.name for p in inbox.iterdir()) if inbox.is_dir() else []
    return BurstOutcome(attestations, quarantined, names, platform.unfinished_runs())


def _without_ending(outcome: BurstOutcome, submitted: list[Submitted]) -> list[Submitted]:
    """The files not yet attested (good ones) or quarantined (bad ones)."""
    from hokusai_assets.lib.commitments.digests import file_digest

    return [
        item
        for item in submitted
        if (
            item.partition not in outcome.attestations
            if item.file.expected == "attested"
            else file_digest(item.file.path) not in outcome.quarantined
        )
    ]


def settled(platform, submitted: list[Submitted], quarantine: Path, inbox: Path) -> BurstOutcome | None:
    """The outcome once every file has its ending (attested or quarantined) and no run is
    left queued or running; None before."""
    outcome = burst_outcome(platform, quarantine, inbox)
    if _without_ending(outcome, submitted) or outcome.unfinished_runs or outcome.inbox:
        return None
    return outcome


def pending(platform, submitted: list[Submitted], quarantine: Path, inbox: Path) -> str:
    """What a burst still waits for, for a failure message: files without an ending, runs
    queued or running (with their partitions) and names left in the inbox."""
    outcome = burst_outcome(platform, quarantine, inbox)
    waiting = [
        f"{item.file.path.name} ({item.partition}, expected {item.file.expected})"
        for item in _without_ending(outcome, submitted)
    ]
    runs = [
        f"{r['runId'][:8]} {r['status']} {r['jobName']} "
        f"{next((t['value'] for t in r['tags'] if t['key'] == 'dagster/partition'), '-')}"
        for r in outcome.unfinished_runs
    ]
    return f"waiting for {waiting}; runs unfinished {runs}; inbox {outcome.inbox}"


def outcome_problems(outcome: BurstOutcome, submitted: list[Submitted], quarantine: Path) -> list[str]:
    """What is wrong with a settled burst (nothing, when every good file is attested exactly
    once, every bad one is in quarantine byte for byte with its expected code, the inbox is
    empty and no run is left queued or running)."""
    from hokusai_assets.lib.commitments.digests import file_digest

    problems = []
    good = {s.partition for s in submitted if s.file.expected == "attested"}
    bad = {s.partition for s in submitted} - good
    if missing := sorted(good - set(outcome.attestations)):
        problems.append(f"good files not attested: {missing}")
    if wrongly := sorted(bad & set(outcome.attestations)):
        problems.append(f"bad files attested: {wrongly}")
    problems += [f"{key} attested {len(times)} times" for key, times in outcome.attestations.items() if len(times) != 1]
    for item in submitted:
        reasons = outcome.quarantined.get(file_digest(item.file.path), [])
        if item.file.expected == "attested":
            if reasons:
                problems.append(f"good file {item.file.path.name} quarantined: {[r['code'] for r in reasons]}")
            continue
        if [r["code"] for r in reasons] != [item.file.expected]:
            problems.append(f"{item.file.path.name}: quarantined as {[r['code'] for r in reasons]}, not [{item.file.expected}]")
        elif (quarantine / reasons[0]["file"]).read_bytes() != item.file.path.read_bytes():
            problems.append(f"{item.file.path.name}: the quarantined copy differs from the file sent")
    if outcome.inbox:
        problems.append(f"left in the inbox: {outcome.inbox}")
    if outcome.unfinished_runs:
        problems.append(f"runs left unfinished: {[r['runId'] for r in outcome.unfinished_runs]}")
    return problems


def attestation_bytes(layout, key: str) -> dict[str, bytes]:
    directory = layout.attestation(key).directory
    return {name: (directory / name).read_bytes() for name in REPRODUCIBLE_FILES}


def evaluate_one_at_a_time(home: Path, config: Path, files: list[BurstFile]) -> dict[str, dict[str, bytes]]:
    """Each file through `hokusai evaluate`'s code path, one after another, in ``home`` (with
    the keys the environment names): partition -> attestation file -> bytes."""
    from hokusai_assets.defs.resources import TrackingResource
    from hokusai_assets.entry.runner import evaluate_file
    from hokusai_assets.lib.intake.contributions import Contributor
    from hokusai_assets.services.tracking.worker import TrackingWorker
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config, home=home)
    uri = settings.layout.tracking_uri({})
    attested = {}
    with TrackingWorker.start(uri) as worker:  # one MLflow start-up for all of them
        tracking = TrackingResource(home=str(home), tracking_uri=uri, worker_address=worker.address)
        for file in files:
            outcome = evaluate_file(settings, file.path, Contributor(wallet=file.wallet), tracking=tracking, refresh_overview=False)
            attested[outcome.partition] = attestation_bytes(settings.layout, outcome.partition)
    return attested
