"""A real Dagster deployment on loopback, for end-to-end tests and benchmarks.

``dagster-webserver`` and ``dagster-daemon`` run as separate processes on the repo's
``workspace.yaml`` and ``dagster.yaml`` (what ``make dev`` starts as one command), each in
its own process group, and are stopped by pid. Status is read through the GraphQL API with
the dagster-graphql client.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

MATERIALIZATIONS = """
query Materializations($path: [String!]!, $partitions: [String!]) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetMaterializations(partitions: $partitions, limit: 20) { partition runId timestamp } }
  }
}
"""
OBSERVATIONS = """
query Observations($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset {
      assetObservations(limit: 50) {
        partition
        metadataEntries { label ... on TextMetadataEntry { text } }
      }
    }
  }
}
"""
CHECK_EXECUTIONS = """
query Checks($path: [String!]!, $check: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $check, limit: 20) {
    runId status evaluation { partition description }
  }
}
"""
RUN_EVENTS = """
query RunEvents($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      status
      eventConnection(afterCursor: null) {
        events { __typename ... on MessageEvent { message stepKey } }
      }
    }
  }
}
"""
RUNS_FOR_PARTITION = """
query Runs($partition: String!) {
  runsOrError(filter: {tags: [{key: "dagster/partition", value: $partition}]}) {
    ... on Runs { results { runId status jobName tags { key value } } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


class Platform:
    """The webserver and the daemon for one HOKUSAI_HOME and hokusai.yaml."""

    def __init__(self, home: Path, config: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = Path(home)
        self.config = Path(config)
        self.port = free_port()
        self.dagster_home = self.home / "dagster"
        self.logs = self.home / "platform-logs"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_", "MLFLOW_TRACKING"))},
            "HOKUSAI_HOME": str(self.home),
            "HOKUSAI_CONFIG_PATH": str(self.config),
            "DAGSTER_HOME": str(self.dagster_home),
            **(extra_env or {}),
        }
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")
        try:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: its children stop with it
            )
        finally:
            log.close()
        self.processes.append(process)
        return process

    def start(self, timeout: float = 180.0) -> Platform:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "dagster.yaml", self.dagster_home / "dagster.yaml")
        workspace = str(REPO / "workspace.yaml")
        self._spawn(
            "webserver",
            [str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(self.port)],
        )
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace])
        try:
            wait_for(self._location_loaded, timeout, f"the webserver on {self.url} loading hokusai_assets")
        except BaseException:
            self.stop()
            raise
        return self

    def _location_loaded(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}; see {self.logs}")
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=2):
                pass
            data = self.query("{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }")
        except Exception:
            return False
        return bool(data.get("repositoriesOrError", {}).get("nodes"))

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM each process we started (its group), then SIGKILL what is left."""
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            try:  # children the group leader left behind (code servers, run workers)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # SIGKILLed children are reaped by init, not by us: wait until they are gone.
        wait_for(lambda: not self.running_pids(), timeout, f"processes {self.running_pids()} exiting")

    def running_pids(self) -> list[int]:
        """Process groups we started that still have a live member (after stop: none)."""
        alive = []
        for process in self.processes:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                continue
            alive.append(process.pid)
        return alive

    def hokusai(self, *args: str) -> subprocess.CompletedProcess:
        """The real CLI against this deployment's config and home."""
        return subprocess.run(
            [sys.executable, "-m", "hokusai_assets.cli", *args],
            capture_output=True, text=True, env=self.env, cwd=REPO, timeout=120,
        )

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ GraphQL

    def client(self):
        from dagster_graphql import DagsterGraphQLClient

        return DagsterGraphQLClient("127.0.0.1", port_number=self.port, timeout=30)

    def query(self, query: str, variables: dict | None = None) -> dict:
        # The public client has methods for jobs and runs only; asset queries go through
        # its own transport (_execute), which adds the error handling of the client.
        return self.client()._execute(query, variables or {})

    def materialized_partitions(self, asset: str) -> dict[str, str]:
        """partition -> run id of the latest materialisations of ``asset``."""
        data = self.query(MATERIALIZATIONS, {"path": [asset]})
        events = (data.get("assetOrError") or {}).get("assetMaterializations") or []
        return {event["partition"]: event["runId"] for event in events}

    def observations(self, asset: str) -> list[dict[str, str]]:
        data = self.query(OBSERVATIONS, {"path": [asset]})
        events = (data.get("assetOrError") or {}).get("assetObservations") or []
        return [
            {"partition": e["partition"], **{m["label"]: m.get("text") for m in e["metadataEntries"]}} for e in events
        ]

    def check_executions(self, asset: str, check: str) -> list[dict]:
        return self.query(CHECK_EXECUTIONS, {"path": [asset], "check": check})["assetCheckExecutions"]

    def runs_for_partition(self, partition: str) -> list[dict]:
        return self.query(RUNS_FOR_PARTITION, {"partition": partition})["runsOrError"]["results"]

    def run_events(self, run_id: str) -> tuple[str, list[dict]]:
        """(status, [{type, message, stepKey}]) of one run."""
        run = self.query(RUN_EVENTS, {"runId": run_id})["runOrError"]
        events = [
            {"type": e["__typename"], "message": e.get("message"), "step": e.get("stepKey")}
            for e in run["eventConnection"]["events"]
        ]
        return run["status"], events

    def finished_runs(self, partition: str) -> list[dict]:
        """The partition's runs, once none of them is queued, starting or running."""
        runs = self.runs_for_partition(partition)
        if not runs or any(r["status"] in {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"} for r in runs):
            return []
        return runs
