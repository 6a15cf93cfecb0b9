"""HOKUSAI_EXECUTOR=celery for real: a contribution's steps run on two dagster-celery workers.

The platform runs as deployed (webserver and daemon, the repo's dagster.yaml) with the
Celery executor; Debian's redis-server is the broker and the result backend; two workers
(worker-a, worker-b) are started with the command an operator runs on other machines,
with the same HOKUSAI_HOME, config and keys. A submitted contribution goes through the
sensor, the reference is prepared, and each step of both runs is handed to a worker.

The event log names the worker of each step: dagster-celery's engine event "Executing
steps … in celery worker" carries the worker's node name (metadata "Celery worker"); the
step's own start event carries the pid of the process that ran it, which must belong to
that worker. Both graphs have a pair of steps that can run side by side (the two reference
tables; the drift report beside the training set), and each pair is split across the two
workers. The attestation is compared byte for byte with the same file evaluated in-process
(`hokusai evaluate`) in another home with the same keys, which runs meanwhile.
"""

import os
import signal
import subprocess
import sys

import dagster as dg
import pytest

from hokusai_assets.lib.attestation.bundle import REPRODUCIBLE_FILES
from hokusai_assets_tests.e2e.celery_workers import CeleryPlatform
from hokusai_assets_tests.e2e.platform import FIXED_KEYS, REPO, RUN_TIMEOUT, wait_for, write_platform_task
from hokusai_assets_tests.e2e.serving import RedisServer

pytestmark = [pytest.mark.e2e]

WORKERS = ["worker-a", "worker-b"]
# Steps with no path between them in each job: both are ready in the same tick of the executor.
PARALLEL_STEPS = {
    "prepare_baseline": ("baseline_training_set", "benchmark_dataset"),
    "evaluate_contribution": ("drift_report", "integrated_training_set"),
}


def _steps_and_workers(instance: dg.DagsterInstance, run_id: str) -> tuple[dict[str, int], dict[str, set[str]]]:
    """({step: pid of the process that started it}, {step: worker node names the engine events name})."""
    started, announced = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = event.pid
        if event.event_type_value == "ENGINE_EVENT" and "Celery worker" in event.engine_event_data.metadata:
            announced.setdefault(event.step_key, set()).add(event.engine_event_data.metadata["Celery worker"].value)
    return started, announced


def _in_process_reference(task, home) -> subprocess.Popen:
    """`hokusai evaluate` of the same file in another home with the same keys, in-process (the default)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_", "MLFLOW_TRACKING"))}
    command = [sys.executable, "-m", "hokusai_assets.entry.cli", "evaluate", str(task.contribution_path)]
    command += ["--wallet", task.wallet, "--config", str(task.config_path), "--home", str(home)]
    return subprocess.Popen(
        command, env={**environ, **FIXED_KEYS}, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )


def _assert_each_step_ran_on_a_worker(platform: CeleryPlatform) -> None:
    """Every step of both runs on a worker named in the event log, each parallel pair on two."""
    with dg.DagsterInstance.from_config(str(platform.dagster_home)) as instance:
        run_ids = {
            run.job_name: run.run_id
            for run in instance.get_runs()
            if run.job_name in PARALLEL_STEPS and run.status == dg.DagsterRunStatus.SUCCESS
        }
        assert set(run_ids) == set(PARALLEL_STEPS)
        nodes_used = set()
        for job_name, run_id in run_ids.items():
            started, announced = _steps_and_workers(instance, run_id)
            assert started and set(started) == set(announced), f"{job_name}: steps not run on a worker"
            for step, pid in started.items():
                [node] = announced[step]
                # The process that ran the step is that worker's, not the run's own.
                assert platform.workers.worker_of(pid) == node, f"{job_name}.{step} ran in pid {pid}, not on {node}"
            nodes_used |= {node for nodes in announced.values() for node in nodes}
            first, second = PARALLEL_STEPS[job_name]
            assert announced[first] != announced[second], f"{job_name}: {first} and {second} ran on one worker"
    assert nodes_used == set(platform.workers.node_names.values())


def test_each_step_runs_on_a_celery_worker_and_the_attestation_matches_an_in_process_run(tmp_path):
    task = write_platform_task(tmp_path / "task")
    reference_home = tmp_path / "reference-home"
    reference = _in_process_reference(task, reference_home)  # on the other core while the platform starts
    try:
        with (
            RedisServer(tmp_path / "redis") as redis,
            CeleryPlatform(
                tmp_path / "home",
                task.config_path,
                broker=redis.url,
                backend=redis.url.rsplit("/", 1)[0] + "/1",  # results in a database of their own
                workers=WORKERS,
                extra_env=FIXED_KEYS,
            ) as platform,
        ):
            key = platform.submit(task.contribution_path, wallet=task.wallet)
            runs = wait_for(lambda: platform.finished_runs(key), RUN_TIMEOUT, f"the run of {key} ending")
            assert [run["status"] for run in runs] == ["SUCCESS"], runs
            _assert_each_step_ran_on_a_worker(platform)
            on_workers = {name: (platform.home / "attestations" / key / name).read_bytes() for name in REPRODUCIBLE_FILES}
        assert platform.running_pids() == [], "processes left running after stop"

        _, errors = reference.communicate(timeout=RUN_TIMEOUT)
        assert reference.returncode == 0, errors
        for name in REPRODUCIBLE_FILES:
            assert on_workers[name] == (reference_home / "attestations" / key / name).read_bytes(), name
    finally:
        if reference.poll() is None:
            os.killpg(reference.pid, signal.SIGKILL)
            reference.wait()
