"""A run killed during training is retried by the platform and attests the same bytes.

The platform runs as deployed (webserver and daemon, dagster.yaml's run monitoring and
run retries). The run worker is SIGKILLed while `improved_model` trains; the code server
marks the run failed, the daemon starts a retry from the failed step, the torch trainer
resumes from its last epoch checkpoint, and the attestation is compared byte for byte with
the same contribution evaluated, uninterrupted, in another home with the same keys.
"""

import os
import signal

import pytest

from hokusai_assets.lib.attestation.bundle import REPRODUCIBLE_FILES
from hokusai_assets_tests.e2e.platform import (
    FIXED_KEYS,
    RUN_TIMEOUT,
    Platform,
    wait_for,
    worker_pid,
    write_platform_task,
)

pytestmark = [pytest.mark.e2e]
# Long enough that the kill lands mid-training (each fit checkpoints every epoch).
EPOCHS = 200


def _events(platform: Platform, run_id: str) -> list[dict]:
    return platform.run_events(run_id)[1]


def _training_under_way(platform: Platform, run_id: str) -> int | None:
    """The run worker's pid once improved_model has written its first checkpoint."""
    events = _events(platform, run_id)
    started = any(e["type"] == "ExecutionStepStartEvent" and e["step"] == "improved_model" for e in events)
    checkpoints = list((platform.home / "checkpoints" / "improved_model").rglob("*.safetensors"))
    return worker_pid(events) if started and checkpoints else None


def test_a_run_killed_while_training_is_retried_and_attests_the_same_bytes(tmp_path):
    task = write_platform_task(tmp_path / "task", framework="torch", epochs=EPOCHS)

    with Platform(tmp_path / "platform-home", task.config_path, extra_env=FIXED_KEYS) as platform:
        key = platform.submit(task.contribution_path, wallet=task.wallet)
        [first] = wait_for(lambda: platform.runs_for_partition(key), RUN_TIMEOUT, f"a run for {key}")
        worker = wait_for(lambda: _training_under_way(platform, first["runId"]), RUN_TIMEOUT, "improved_model training")
        os.kill(worker, signal.SIGKILL)

        runs = wait_for(
            lambda: [r for r in platform.finished_runs(key) if r["status"] == "SUCCESS"] and platform.finished_runs(key),
            RUN_TIMEOUT,
            f"a retry of {key} succeeding",
        )
        statuses = {r["runId"]: r["status"] for r in runs}
        assert statuses[first["runId"]] == "FAILURE"
        [retry] = [r for r in runs if r["status"] == "SUCCESS"]
        tags = {t["key"]: t["value"] for t in retry["tags"]}
        assert tags["dagster/parent_run_id"] == first["runId"] and tags["dagster/retry_number"] == "1"
        # The retry re-ran from the killed step, and the trainer picked up its checkpoint.
        retry_events = _events(platform, retry["runId"])
        restarted = {e["step"] for e in retry_events if e["type"] == "ExecutionStepStartEvent"}
        assert "improved_model" in restarted and "validated_contribution" not in restarted
        assert any("resuming from checkpoint at epoch" in (e["message"] or "") for e in retry_events)
        killed = {
            name: (platform.home / "attestations" / key / name).read_bytes() for name in REPRODUCIBLE_FILES
        }

    # The same contribution, never interrupted, headless in another home with the same keys.
    reference_home = tmp_path / "reference-home"
    done = platform.hokusai("evaluate", str(task.contribution_path), "--wallet", task.wallet, "--home", str(reference_home))
    assert done.returncode == 0, done.stderr
    for name in REPRODUCIBLE_FILES:
        assert killed[name] == (reference_home / "attestations" / key / name).read_bytes(), name
