"""Storage faults, through the real commands: a stored contribution whose encrypted bytes were
altered, and a full disk under HOKUSAI_HOME (a small tmpfs).

A damaged entry fails the first step that reads it with E_STORE_CORRUPT, is never validated,
trained on or attested, is shown as damaged, and is not counted by later contributions; the
original file restores it. A full disk is E_DISK_FULL on one line, leaves nothing
half-written that could count as done (no partial inbox file, no store entry without its
manifest, no attestation directory with some of its files), and a retry with space completes.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.overview import DAMAGED
from hokusai_assets.lib.samples.mock_task import write_mock_task
from hokusai_assets.services.leaf_index import LeafIndex
from hokusai_assets.services.overview import contribution_summaries
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.layout import HomeLayout
from hokusai_assets_tests.e2e.platform import FIXED_KEYS
from hokusai_assets_tests.small_disk import fill, free_again, left_behind, small_disk

pytestmark = [pytest.mark.e2e]
DAGSTER = Path(sys.executable).with_name("dagster")


def one_error_line(done: subprocess.CompletedProcess, code: str) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error[{code}]: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout and done.stdout == ""
    return lines[0]


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def nudged(rows: pd.DataFrame) -> pd.DataFrame:
    """The same distribution, none of the same rows: seeded noise on every feature."""
    features = [column for column in rows.columns if column != "label"]
    noise = np.random.RandomState(1).normal(0.0, 0.1, (len(rows), len(features)))
    return rows.assign(**{c: (rows[c] + noise[:, i]).round(4) for i, c in enumerate(features)})


def events_of(instance: dg.DagsterInstance, run_id: str, kind: str) -> list:
    return [e for e in instance.all_logs(run_id) if e.dagster_event and e.dagster_event.event_type_value == kind]


def test_a_damaged_stored_contribution_fails_its_run_and_is_never_attested_nor_counted(cli, tmp_path):
    task = write_mock_task(tmp_path / "task")
    home = tmp_path / "home"
    layout = HomeLayout(home)
    env = {**FIXED_KEYS, "HOKUSAI_CONFIG_PATH": str(task.config_path)}
    damaged_file = task.contribution_path
    rows = pd.read_csv(damaged_file)
    later_file = tmp_path / "later.csv"  # every row of the damaged one, and as many new ones
    pd.concat([rows, nudged(rows)]).to_csv(later_file, index=False)

    # What the sensor leaves when it takes a file from the inbox: a complete store entry whose
    # run is still to come. Then one bit of its ciphertext flips on disk.
    store = ContributionStore.open(layout, environ=FIXED_KEYS)
    damaged, _ = store.put_bytes(damaged_file.read_bytes(), damaged_file.name, Contributor(wallet=task.wallet))
    flip_one_byte(store.root / damaged.key / "data.enc")

    # A later contribution runs as usual, and the damaged one is not counted before it.
    later = cli("evaluate", str(later_file), "--wallet", task.wallet, home=home, env=env)
    assert later.returncode == 0, later.stderr
    later_key = json.loads(later.stdout)["partition"]
    assert store.keys_before(later_key) == [damaged.key]
    report = json.loads(layout.intake_report_file(later_key).read_bytes())
    assert report["duplicates"]["in_earlier_contributions"] == 0 and report["rows_validated"] == 2 * len(rows)
    later_statement = layout.attestation(later_key).statement.read_bytes()

    # The damaged contribution's run, as the sensor or the UI starts it (with Dagster's own CLI).
    with dg.DagsterInstance.from_config(str(layout.dagster_home)) as instance:
        instance.add_dynamic_partitions("contributions", [damaged.key])
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    environ |= {**env, "HOKUSAI_HOME": str(home), "DAGSTER_HOME": str(layout.dagster_home)}
    run = subprocess.run(
        [str(DAGSTER), "job", "execute", "-m", "hokusai_assets.definitions", "-j", "evaluate_contribution"]
        + ["--tags", json.dumps({"dagster/partition": damaged.key})],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )
    assert run.returncode != 0
    said = f"[E_STORE_CORRUPT] stored file for {damaged.key} fails authentication (AES-GCM tag)"
    assert said in run.stdout + run.stderr
    with dg.DagsterInstance.from_config(str(layout.dagster_home)) as instance:
        [failed] = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": damaged.key}))
        assert failed.status == dg.DagsterRunStatus.FAILURE
        # It stopped at the first step that reads the stored bytes; nothing after it started.
        assert [e.step_key for e in events_of(instance, failed.run_id, "STEP_START")] == ["contributed_dataset"]
        [failure] = events_of(instance, failed.run_id, "STEP_FAILURE")
        assert failure.step_key == "contributed_dataset"
        assert "[E_STORE_CORRUPT]" in failure.dagster_event.step_failure_data.error.message

    # Never validated, trained on or attested; the overview says why it is not pending.
    assert not layout.attestation(damaged.key).directory.exists()
    assert damaged.key not in LeafIndex(layout.leaf_index_dir).keys()
    tables = [layout.table_file(asset, damaged.key) for asset in ("validated_contribution", "integrated_training_set")]
    assert not any(path.exists() for path in [*tables, layout.model_file("improved_model", damaged.key)])
    statuses = {row.partition: row.status for row in contribution_summaries(layout, store)}
    assert statuses == {damaged.key: DAMAGED, later_key: "attested"}

    # The original file restores the entry (same digest, same place in the arrival order) and runs it.
    restored = cli("evaluate", str(damaged_file), "--wallet", task.wallet, home=home, env=env)
    assert restored.returncode == 0, restored.stderr
    outcome = json.loads(restored.stdout)
    assert outcome["partition"] == damaged.key and not outcome["reused"]
    assert store.fault(damaged.key) is None and store.get(damaged.key).sequence == damaged.sequence
    assert layout.attestation(later_key).statement.read_bytes() == later_statement  # a decided one stays decided


def test_submit_onto_a_full_disk_is_refused_and_leaves_nothing_in_the_inbox(cli, tmp_path):
    task = write_mock_task(tmp_path / "task")
    home = tmp_path / "home"
    env = {**FIXED_KEYS, "HOKUSAI_CONFIG_PATH": str(task.config_path)}
    size = task.contribution_path.stat().st_size
    with small_disk(home, 1024):
        (home / "inbox").mkdir()
        fill(home, leave_bytes=size // 2)
        refused = cli("submit", str(task.contribution_path), "--wallet", task.wallet, home=home, env=env)
        line = one_error_line(refused, "E_DISK_FULL")
        said = f"error[E_DISK_FULL]: no space left on device under {home / 'inbox'} ({size:,} bytes to write"
        assert line.startswith(said)
        assert line.endswith("then submit again")
        # Not even a dot file the sensor would skip: the inbox is as it was.
        assert list((home / "inbox").iterdir()) == []
        free_again(home)
        done = cli("submit", str(task.contribution_path), "--wallet", task.wallet, home=home, env=env)
        assert done.returncode == 0, done.stderr
        submitted = json.loads(done.stdout)
        inbox = sorted(p.name for p in (home / "inbox").iterdir())
    assert inbox == sorted([Path(submitted["inbox_file"]).name, Path(submitted["sidecar"]).name])


def test_evaluate_on_a_full_disk_fails_clearly_keeps_nothing_half_written_and_a_retry_completes(cli, tmp_path):
    task = write_mock_task(tmp_path / "task")
    home = tmp_path / "home"
    layout = HomeLayout(home)
    env = {**FIXED_KEYS, "HOKUSAI_CONFIG_PATH": str(task.config_path)}
    evaluate = ("evaluate", str(task.contribution_path), "--wallet", task.wallet)
    with small_disk(home, 32 * 1024):
        # Full before anything is stored: the store entry is not written, not even in part.
        fill(home)
        line = one_error_line(cli(*evaluate, home=home, env=env), "E_DISK_FULL")
        assert "no space left on device under " in line and str(layout.store_dir) in line
        assert not list(layout.store_dir.glob("*/manifest.json")) and left_behind(home) == []
        free_again(home)

        # Full where attestations are written (their own small volume, also under the home): the
        # run stores, validates and trains, then fails signing with the code; no directory appears.
        attestations = layout.attestations_dir
        with small_disk(attestations, 64):
            fill(attestations)
            line = one_error_line(cli(*evaluate, home=home, env=env), "E_DISK_FULL")
            assert f"no space left on device under {attestations} (" in line and "step attestation)" in line
            [entry] = layout.store_dir.glob("*/manifest.json")
            key = entry.parent.name
            assert not layout.attestation(key).directory.exists() and left_behind(home) == []
            free_again(attestations)
            # With space again, the same command completes the same contribution.
            done = cli(*evaluate, home=home, env=env)
            assert done.returncode == 0, done.stderr
            outcome = json.loads(done.stdout)
            assert outcome["partition"] == key and outcome["accepted"] and not outcome["reused"]
            verified = cli("verify", outcome["attestation"], "--data", str(task.contribution_path), home=home, env=env)
            assert verified.returncode == 0, verified.stdout + verified.stderr
