"""Real dagster-celery workers on loopback, started as an operator starts them, stopped by pid.

Each worker is ``dagster-celery worker start`` with the repo's ``deploy/celery.yaml`` (the
broker and backend from HOKUSAI_CELERY_BROKER and HOKUSAI_CELERY_BACKEND), its own node
name and one step at a time. It leads its own process group (the CLI, the celery main
process and its pool child), so stopping it by pid stops them all, and a pid found in the
event log can be traced back to the worker whose group it belongs to.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from hokusai_assets_tests.e2e.platform import BIN, REPO, Platform, live_groups, wait_for

WORKER_CONFIG = REPO / "deploy" / "celery.yaml"


def worker_command(name: str) -> list[str]:
    """The command of deploy/celery.yaml's header (and the README), for worker ``name``."""
    return [
        str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", str(WORKER_CONFIG),
        "-n", name, "-i", "hokusai_assets.definitions", "--", "--concurrency=1",
    ]


class CeleryWorkers:
    """Workers named ``names``, with ``env`` (HOKUSAI_HOME, DAGSTER_HOME, keys, broker, backend)."""

    def __init__(self, names: list[str], env: dict[str, str], logs: Path) -> None:
        # `dagster-celery worker start` runs `celery` from PATH: the virtualenv's.
        self.env = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
        self.logs = logs
        self.processes: dict[str, subprocess.Popen] = {}
        # What celery makes of `-n NAME` (NAME@%h): the node name its events carry.
        self.node_names = {name: f"{name}@{socket.gethostname()}" for name in names}

    def log(self, name: str) -> str:
        path = self.logs / f"celery-{name}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def _ready(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"celery worker {name} exited with {process.returncode}:\n{self.log(name)[-3000:]}")
        return all(f"{node} ready." in self.log(name) for name, node in self.node_names.items())

    def spawn(self) -> None:
        """Start every worker; they connect to the broker in the background (see wait_ready)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in self.node_names:
            with open(self.logs / f"celery-{name}.log", "wb") as log:
                self.processes[name] = subprocess.Popen(
                    worker_command(name),
                    cwd=REPO,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: the celery processes stop with it
                )

    def wait_ready(self, timeout: float = 120.0) -> None:
        wait_for(self._ready, timeout, f"celery workers {sorted(self.node_names)} ready")

    def start(self, timeout: float = 120.0) -> CeleryWorkers:
        try:
            self.spawn()
            self.wait_ready(timeout)
        except BaseException:  # __exit__ does not run when __enter__ fails: stop them here
            self.stop()
            raise
        return self

    def worker_of(self, pid: int) -> str | None:
        """The node name of the worker whose process group ``pid`` is in (None: not a worker's)."""
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            return None
        return next((self.node_names[name] for name, p in self.processes.items() if p.pid == group), None)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM each worker's group (celery's warm shutdown), then SIGKILL what is left."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            try:  # the celery main process and pool child outlive their CLI parent otherwise
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if process.returncode is None:
                process.wait()
        wait_for(lambda: not self.running_pids(), timeout, f"celery worker groups {self.running_pids()} exiting")

    def running_pids(self) -> list[int]:
        return live_groups(self.processes.values())

    def __enter__(self) -> CeleryWorkers:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class CeleryPlatform(Platform):
    """The webserver and daemon with HOKUSAI_EXECUTOR=celery, and the workers its runs use.

    The workers start as soon as the instance exists, while the webserver loads the code
    location; stopping the platform stops them first (a run never outlives its workers).
    """

    def __init__(
        self, home: Path, config: Path, broker: str, backend: str, workers: list[str], extra_env: dict | None = None
    ) -> None:
        executor_env = {"HOKUSAI_EXECUTOR": "celery", "HOKUSAI_CELERY_BROKER": broker, "HOKUSAI_CELERY_BACKEND": backend}
        super().__init__(home, config, extra_env={**(extra_env or {}), **executor_env})
        self.workers = CeleryWorkers(workers, self.env, self.logs)

    def _start_services(self) -> None:
        super()._start_services()  # the instance's storage exists from here: the workers may open it
        self.workers.spawn()

    def start(self, timeout: float = 180.0) -> CeleryPlatform:
        super().start(timeout)
        try:
            self.workers.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        try:
            self.workers.stop(timeout)
        finally:
            super().stop(timeout)

    def running_pids(self) -> list[int]:
        return super().running_pids() + self.workers.running_pids()
