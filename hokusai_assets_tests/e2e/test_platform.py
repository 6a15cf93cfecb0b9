"""The platform as a user runs it: webserver and daemon as real processes, `hokusai submit`,
status read back through the GraphQL API.

The `platform` fixture (conftest.py) starts `dagster-webserver` and `dagster-daemon` on a
mock task and stops them by pid at the end of the session.
"""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from hokusai_assets.defs.jobs import CONTRIBUTION_ASSETS
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.intake.validate import CHECKS
from hokusai_assets.services.quarantine import list_quarantine
from hokusai_assets_tests.e2e.platform import REPO, RUN_TIMEOUT, Platform, wait_for, write_platform_task

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("platform")]


def test_a_submitted_contribution_is_attested(platform, attested_contribution):
    key, run_id = attested_contribution  # `hokusai submit`, then wait for attestation[key] (conftest)

    runs = wait_for(lambda: platform.finished_runs(key), RUN_TIMEOUT, f"the run of {key} finishing")

    assert [(r["jobName"], r["status"]) for r in runs] == [("evaluate_contribution", "SUCCESS")]
    assert runs[0]["runId"] == run_id
    for asset in CONTRIBUTION_ASSETS:
        assert platform.materialized_partitions(asset).get(key) == run_id, asset
    checks = platform.check_executions("validated_contribution", "schema_valid")
    assert any(c["runId"] == run_id and c["status"] == "SUCCEEDED" for c in checks)
    # What the platform wrote verifies on its own, with the attester's published keys.
    verified = platform.hokusai("verify", str(platform.home / "attestations" / key))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # The MLflow run went through the platform's warm tracking worker, not an import in the run.
    _, events = platform.run_events(run_id)
    assert not [e for e in events if "in this process instead" in (e["message"] or "")]
    assert platform.tracking_worker is not None and platform.tracking_worker.process.poll() is None


def test_a_bad_file_is_quarantined_and_its_rejection_is_visible(platform, tmp_path):
    rows = pd.read_csv(platform.task.contribution_path).iloc[:300]
    unlabelled = tmp_path / "unlabelled.csv"
    rows.drop(columns=["label"]).to_csv(unlabelled, index=False)
    sent = unlabelled.read_bytes()
    key = platform.submit(unlabelled)

    runs = wait_for(lambda: platform.finished_runs(key), RUN_TIMEOUT, f"the run of {key} finishing")

    assert [(r["jobName"], r["status"]) for r in runs] == [("evaluate_contribution", "FAILURE")]
    failed = [c for c in platform.check_executions("validated_contribution", "schema_valid") if c["runId"] == runs[0]["runId"]]
    assert [c["status"] for c in failed] == ["FAILED"]
    assert "label" in failed[0]["evaluation"]["description"]
    # The blocking check stopped the chain: nothing downstream of validation exists for it.
    assert key not in platform.materialized_partitions("integrated_training_set")
    assert key not in platform.materialized_partitions("attestation")
    # Byte for byte in quarantine, with its reason.
    reasons = [r for r in list_quarantine(platform.home / "quarantine") if r.get("partition") == key]
    assert len(reasons) == 1 and reasons[0]["code"].startswith("E_")
    assert (platform.home / "quarantine" / reasons[0]["file"]).read_bytes() == sent
    assert reasons[0]["file_digest"] == bytes_digest(sent)


def test_a_file_of_an_unsupported_type_dropped_in_the_inbox_is_quarantined_by_the_sensor(platform):
    notes = platform.home / "inbox" / "notes.txt"
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_bytes(b"not a table\n")

    observed = wait_for(
        lambda: [o for o in platform.observations("contributed_dataset") if "notes.txt" in (o.get("reason") or "")],
        60,
        "the sensor quarantining notes.txt",
    )

    assert observed[0]["outcome"] == "quarantined"
    assert observed[0]["code"] == "E_FORMAT_UNSUPPORTED"
    assert not notes.exists()
    assert (platform.home / "quarantine" / observed[0]["quarantined_as"].split(", ")[0]).read_bytes() == b"not a table\n"


def test_make_dev_serves_the_ui_on_loopback_with_the_sensor_running(tmp_path):
    task = write_platform_task(tmp_path / "task")
    home = tmp_path / "home"

    with Platform(home, task.config_path, via_make_dev=True) as dev:
        assert dev.sensor("contribution_sensor") == {"status": "RUNNING", "interval": 5}
        # The instance lives inside HOKUSAI_HOME, on the repo's production settings.
        assert (home / "dagster" / "dagster.yaml").read_bytes() == (REPO / "dagster.yaml").read_bytes()
        assert (home / "dagster" / "history" / "runs.db").is_file()
        listening = [address for address in _listening_addresses() if address[1] == dev.port]
        assert listening and {host for host, _ in listening} <= {"127.0.0.1"}
    assert dev.running_pids() == []


def _listening_addresses() -> list[tuple[str, int]]:
    """(address, port) of every listening IPv4 TCP socket, from /proc/net/tcp."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A":  # LISTEN
            address, port = local.split(":")
            found.append((".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)), int(port, 16)))
    return found


def test_each_contribution_keeps_its_own_check_results_through_graphql(platform, three_contributions):
    good = {three_contributions["first"], three_contributions["second"]}
    bad = three_contributions["bad"]
    statuses = platform.check_partition_statuses("validated_contribution")
    assert set(statuses) == set(CHECKS)
    for name, status in statuses.items():
        assert good <= set(status["succeeded"]), name  # still green after the bad one ran
        assert not set(status["executionFailed"]) & (good | {bad}), name
        if name == "schema_valid":
            assert status["blocking"] and bad in status["failed"]
        else:  # never evaluated for the bad file, and not reported in any way
            assert bad not in status["failed"] + status["skipped"] + status["succeeded"], name
    attestation = platform.check_partition_statuses("attestation")["attestation_verified"]
    assert good <= set(attestation["succeeded"]) and bad not in attestation["executionFailed"] + attestation["failed"]

    [failed] = platform.check_executions_of_partition("validated_contribution", "schema_valid", bad)
    assert failed["status"] == "FAILED" and failed["evaluation"]["partition"] == bad
    assert "missing required column(s) 'label'" in failed["evaluation"]["description"]
    not_evaluated = {m["label"]: m.get("text") for m in failed["evaluation"]["metadataEntries"]}["not_evaluated"]
    assert all(name in not_evaluated for name in CHECKS[1:])
    assert platform.check_executions_of_partition("validated_contribution", "no_cleartext_pii", bad) == []


def test_the_overview_lists_every_contribution_and_is_a_parquet_file(platform, three_contributions):
    latest = platform.latest_metadata("contributions_overview")
    frame = pd.read_parquet(latest["path"]).set_index("partition")
    assert set(three_contributions.values()) <= set(frame.index)
    # Every contribution the platform registered, those of the other tests too.
    assert set(frame.index) == set(platform.partitions())
    for name in ("first", "second"):
        row = frame.loc[three_contributions[name]]
        delta = json.loads((platform.home / "storage" / "delta_result" / f"{three_contributions[name]}.json").read_text())
        assert bool(row["accepted"]) is delta["accepted"] and row["delta_one_bps"] == delta["delta_one_bps"]
    assert not frame.loc[three_contributions["bad"], "accepted"]
    assert frame.loc[three_contributions["bad"], "status"] == "rejected at intake"


def test_the_sensor_tick_history_says_what_each_tick_did(platform, three_contributions):
    ticks = platform.sensor_ticks("contribution_sensor")
    # A tick that asks for nothing says why; one whose requests Dagster dropped as already
    # launched (the same run key again, e.g. while the reference is prepared) has no reason.
    said = [tick["skipReason"] for tick in ticks if tick["status"] == "SKIPPED" and tick["skipReason"]]
    assert said and all(re.match(r"inbox: \d+ taken, \d+ quarantined, \d+ waiting; ", reason) for reason in said)
    assert any(tick["runIds"] for tick in ticks if tick["status"] == "SUCCESS")
