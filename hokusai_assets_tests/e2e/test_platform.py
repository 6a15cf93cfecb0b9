"""The platform as a user runs it: webserver and daemon as real processes, `hokusai submit`,
status read back through the GraphQL API.

The `platform` fixture (conftest.py) starts `dagster-webserver` and `dagster-daemon` on a
mock task and stops them by pid at the end of the session.
"""

from pathlib import Path

import pandas as pd
import pytest

from hokusai_assets.defs.jobs import CONTRIBUTION_ASSETS
from hokusai_assets.lib.commitments.digests import bytes_digest
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
