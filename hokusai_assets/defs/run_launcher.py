"""The run launcher of a single-machine deployment: Dagster's DefaultRunLauncher, plus a
health check of each run worker, so that dagster.yaml's run monitoring can fail (and
run_retries retry) a run whose worker died while nobody was watching it.

With the DefaultRunLauncher, a run worker is a child of the code server that launched it,
and only that code server notices the worker dying (it marks the run failed within half a
second). When that code server is lost first (killed, out of memory) its workers run on as
orphans; if one of them then dies, nothing ever marks its run failed: it stays STARTED,
holds a place in the run queue and its contribution is never attested. Here the daemon's
run monitoring asks, every poll, whether each started run's worker process (the pid it
announced when it started) is still alive on this machine, and fails the run when it has
been gone for GRACE_SECONDS: long enough for a live code server to report it first, so a
run is never failed (and retried) twice.

Runs launched through a code server on another machine are not probed (their pids mean
nothing here); neither are runs that have not announced their worker yet (run monitoring's
start timeout covers those).
"""

import json
import socket
import time
from collections.abc import Mapping
from typing import Any

import dagster as dg

# Private, but the only way to answer run monitoring's health check: DefaultRunLauncher,
# which this extends, is public; the result types of the check are not exported.
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from typing_extensions import Self

from hokusai_assets.services.processes import process_alive

# Longer than run monitoring's poll interval (dagster.yaml: 5 s), far longer than the
# half second a live code server takes to report a dead worker itself.
GRACE_SECONDS = 10.0
WORKER_STARTED = "Started process for run (pid: "  # Dagster's engine event, written by the worker
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class LocalRunLauncher(dg.DefaultRunLauncher):
    """DefaultRunLauncher whose run workers are health-checked by pid (module docstring)."""

    def __init__(self, inst_data: Any = None) -> None:
        super().__init__(inst_data=inst_data)
        self._gone_since: dict[str, float] = {}  # run id -> when its worker was first seen gone

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> Self:
        return cls(inst_data=inst_data)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        now = time.monotonic()
        # Runs that finished while in their grace period are never asked about again.
        self._gone_since = {k: t for k, t in self._gone_since.items() if now - t < 10 * GRACE_SECONDS}
        worker = self._local_worker(run)
        if worker is None or process_alive(*worker):
            self._gone_since.pop(run.run_id, None)
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        pid = worker[0]
        gone_for = now - self._gone_since.setdefault(run.run_id, now)
        if gone_for < GRACE_SECONDS:
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker process {pid} gone for {gone_for:.0f} s")
        del self._gone_since[run.run_id]
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"its worker process {pid} exited without finishing the run, and the code server that "
            "started it did not report it (that code server was lost or restarted)",
        )

    def _local_worker(self, run: dg.DagsterRun) -> tuple[int, float] | None:
        """(pid, when it announced itself) of the run's worker, if it runs on this machine."""
        grpc_info = json.loads(run.tags.get(GRPC_INFO_TAG) or "{}")
        local = "socket" in grpc_info or grpc_info.get("host") in LOCAL_HOSTS | {socket.gethostname()}
        if not local:
            return None
        announced = [
            (int(entry.dagster_event.engine_event_data.metadata["pid"].value), entry.timestamp)
            for entry in self._instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if entry.message.startswith(WORKER_STARTED)
            and "pid" in entry.dagster_event.engine_event_data.metadata
        ]
        return announced[-1] if announced else None
