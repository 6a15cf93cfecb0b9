"""The single-machine run launcher answers run monitoring's health check from the worker's
pid, so a run whose worker died after its code server was lost is failed (and retried)
instead of staying STARTED for ever. Real instance, real processes, Dagster's own monitor."""

import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from hokusai_assets.defs import run_launcher
from hokusai_assets.defs.run_launcher import LocalRunLauncher

REPO = Path(__file__).resolve().parents[2]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@dg.op
def noop() -> None:
    pass


@dg.job
def one_step():
    noop()


@pytest.fixture
def instance(tmp_path):
    """An instance from the repository's own dagster.yaml (SQLite storage under tmp_path)."""
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


@pytest.fixture
def worker():
    process = subprocess.Popen(SLEEPER)
    yield process
    process.kill()
    process.wait()


def started_run(instance, worker_pid: int | None, grpc_info: dict) -> dg.DagsterRun:
    """A run as the DefaultRunLauncher leaves it: STARTED, tagged with its code server, and
    (unless ``worker_pid`` is None) with the worker's own announcement in its event log."""
    run = instance.create_run_for_job(one_step, tags={GRPC_INFO_TAG: json.dumps(grpc_info)})
    instance.run_storage.handle_run_event(
        run.run_id,
        dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_START.value,
            job_name=run.job_name,
            message="started",
        ),
    )
    if worker_pid is not None:
        instance.report_engine_event(
            f"Started process for run (pid: {worker_pid}).", run, EngineEventData.in_process(worker_pid)
        )
    return instance.get_run_by_id(run.run_id)


def test_the_instance_from_dagster_yaml_loads_the_launcher(instance):
    assert isinstance(instance.run_launcher, LocalRunLauncher)
    assert instance.run_launcher.supports_check_run_worker_health


def test_a_live_worker_is_running_and_a_dead_one_fails_after_the_grace(instance, worker, monkeypatch):
    monkeypatch.setattr(run_launcher, "GRACE_SECONDS", 0.5)
    run = started_run(instance, worker.pid, {"host": "localhost", "port": 4266})
    launcher = instance.run_launcher
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    worker.kill()
    worker.wait()
    # A live code server would report it within half a second: leave it the chance first.
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    time.sleep(0.6)
    failed = launcher.check_run_worker_health(run)
    assert failed.status == WorkerStatus.FAILED and str(worker.pid) in failed.msg


def test_workers_it_cannot_see_are_never_failed(instance, worker, monkeypatch):
    monkeypatch.setattr(run_launcher, "GRACE_SECONDS", 0.0)
    remote = started_run(instance, worker.pid, {"host": "code-server.internal", "port": 4266})
    unannounced = started_run(instance, None, {"host": "localhost", "port": 4266})
    worker.kill()
    worker.wait()
    for run in (remote, unannounced):
        assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING


def test_dagster_run_monitoring_fails_the_orphaned_run(instance, worker, monkeypatch):
    monkeypatch.setattr(run_launcher, "GRACE_SECONDS", 0.0)
    run = started_run(instance, worker.pid, {"socket": "/tmp/gone.sock"})
    worker.kill()
    worker.wait()
    [record] = instance.get_run_records(filters=dg.RunsFilter(run_ids=[run.run_id]))
    assert record.dagster_run.status == dg.DagsterRunStatus.STARTED
    monitor_started_run(instance, None, record, logging.getLogger("test"))
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert failure and f"worker process {worker.pid}" in failure[-1].message
