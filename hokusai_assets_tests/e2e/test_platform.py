"""The platform as a user runs it: webserver and daemon as real processes, `hokusai submit`,
status read back through the GraphQL API.

The `platform` fixture (conftest.py) starts `dagster-webserver` and `dagster-daemon` on a
mock task and stops them by pid at the end of the session.
"""

import json

import pandas as pd
import pytest

from hokusai_assets.defs.jobs import CONTRIBUTION_ASSETS
from hokusai_assets.lib.commit import bytes_digest
from hokusai_assets.lib.quarantine import list_quarantine
from hokusai_assets_tests.e2e.platform import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("platform")]
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
# The first contribution also waits for the reference (baseline model and metrics).
RUN_TIMEOUT = 300


def submit(platform, path) -> str:
    result = platform.hokusai("submit", str(path), "--wallet", WALLET)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["partition"]


def test_a_submitted_contribution_is_attested(platform):
    key = submit(platform, platform.task.contribution_path)

    run_id = wait_for(
        lambda: platform.materialized_partitions("attestation").get(key), RUN_TIMEOUT, f"attestation[{key}]"
    )
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
    key = submit(platform, unlabelled)

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
