"""A real Dagster deployment on loopback, for end-to-end tests and benchmarks.

``dagster-webserver`` and ``dagster-daemon`` run as separate processes on the repo's
``workspace.yaml`` and ``dagster.yaml``, or ``hokusai dev`` (``make dev``) starts both as one
command; each process we start leads its own process group and is stopped by pid. Status is read through the GraphQL API with
the dagster-graphql client.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hokusai_assets.entry.instance import install_instance_file
from hokusai_assets.lib.samples.mock_task import MockTask, write_mock_task
from hokusai_assets.services.processes import stat_fields
from hokusai_assets.settings.layout import HomeLayout

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# EIP-55's own test vector: a valid checksummed address.
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
# Fixed keys (64 hex each), so that two homes sign, pseudonymise and encrypt alike and
# their attestations can be compared byte for byte.
FIXED_KEYS = {
    "HOKUSAI_ED25519_KEY": "01" * 32,
    "HOKUSAI_ATTESTER_KEY": "4c" * 32,
    "HOKUSAI_PII_KEY": "5e" * 32,
    "HOKUSAI_STORE_KEY": "a7" * 32,
}
# Bound on one contribution's run; the first also waits for the reference to be prepared.
RUN_TIMEOUT = 300

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
SENSOR_STATUS = """
query Sensor($name: String!) {
  sensorOrError(sensorSelector: {
    repositoryName: "__repository__", repositoryLocationName: "hokusai_assets", sensorName: $name
  }) {
    ... on Sensor { sensorState { status } minIntervalSeconds }
  }
}
"""
RUN_TIMES = """
query RunTimes($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { creationTime startTime endTime } }
}
"""
LATEST_METADATA = """
query LatestMetadata($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries {
          label
          ... on MarkdownMetadataEntry { mdStr }
          ... on IntMetadataEntry { intValue }
          ... on TextMetadataEntry { text }
          ... on PathMetadataEntry { path }
        }
      }
    }
  }
}
"""
CHECK_PARTITIONS = """
query CheckPartitions($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks {
          checks {
            name
            blocking
            partitionStatuses {
              ... on AssetCheckDefaultPartitionStatuses {
                succeededPartitions failedPartitions executionFailedPartitions skippedPartitions inProgressPartitions
              }
            }
          }
        }
      }
    }
  }
}
"""
PARTITION_CHECK_EXECUTIONS = """
query PartitionChecks($path: [String!]!, $check: String!, $partition: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $check, partition: $partition, limit: 5) {
    runId status evaluation { partition description metadataEntries { label ... on TextMetadataEntry { text } } }
  }
}
"""
PARTITION_KEYS = """
query PartitionKeys { assetNodeOrError(assetKey: {path: ["contributed_dataset"]}) { ... on AssetNode { partitionKeys } } }
"""
SENSOR_TICKS = """
query SensorTicks($name: String!) {
  sensorOrError(sensorSelector: {
    repositoryName: "__repository__", repositoryLocationName: "hokusai_assets", sensorName: $name
  }) {
    ... on Sensor { sensorState { ticks(limit: 50) { status skipReason runIds } } }
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
ALL_MATERIALIZATIONS = """
query AllMaterializations($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetMaterializations(limit: 10000) { partition runId timestamp } }
  }
}
"""
RUNS_WITH_STATUS = """
query RunsWithStatus($statuses: [RunStatus!]) {
  runsOrError(filter: {statuses: $statuses}) {
    ... on Runs { results { runId status jobName tags { key value } } }
  }
}
"""
UNFINISHED = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_pids(parent: int) -> list[int]:
    """Live children of ``parent``, from /proc (no psutil here)."""
    children = []
    for entry in Path("/proc").iterdir():
        fields = stat_fields(int(entry.name)) if entry.name.isdigit() else None  # None: exited while we looked
        if fields is not None and int(fields[1]) == parent and fields[0] != "Z":
            children.append(int(entry.name))
    return children


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def live_groups(processes) -> list[int]:
    """The process groups led by ``processes`` that still have a live member."""
    alive = []
    for process in processes:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            continue
        alive.append(process.pid)
    return alive


WORKER_STARTED = re.compile(r"Started process for run \(pid: (\d+)\)")  # Dagster's engine event


def worker_pid(events: list[dict]) -> int | None:
    """The pid a run's worker announced in the run's events (``Platform.run_events``), if it has."""
    pids = [int(m.group(1)) for e in events if (m := WORKER_STARTED.search(e["message"] or ""))]
    return pids[-1] if pids else None


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


def write_platform_task(directory: Path, framework: str = "sklearn", epochs: int | None = None) -> MockTask:
    """A mock task whose sensor ticks every 5 s (the minimum), as the latency target assumes."""
    task = write_mock_task(directory, framework=framework)
    config = yaml.safe_load(task.config_path.read_text())
    config["intake"] = {"sensor_interval_seconds": 5}
    if epochs is not None:
        config["training"].setdefault("hyperparameters", {})["epochs"] = epochs
    task.config_path.write_text(yaml.safe_dump(config))
    return task


class Platform:
    """The webserver and the daemon for one HOKUSAI_HOME and hokusai.yaml."""

    def __init__(
        self,
        home: Path,
        config: Path,
        extra_env: dict[str, str] | None = None,
        via_make_dev: bool = False,
        tracking_worker: bool = True,
    ) -> None:
        """``via_make_dev``: one ``hokusai dev`` process (what ``make dev`` runs), which starts
        the webserver, the daemon and a tracking worker itself, instead of those started here.
        ``tracking_worker``: runs log to MLflow through one warm worker, as under ``hokusai dev``
        (HOKUSAI_TRACKING_WORKER); without it each run imports MLflow itself."""
        self.via_make_dev = via_make_dev
        self.with_tracking_worker = tracking_worker and not via_make_dev
        self.tracking_worker = None
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
        self.stopped = False

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
        self.logs.mkdir(parents=True, exist_ok=True)
        if self.via_make_dev:
            self._spawn("dev", [str(BIN / "hokusai"), "dev", "--host", "127.0.0.1", "--port", str(self.port)])
        else:
            self._start_services()
        try:
            wait_for(self._location_loaded, timeout, f"the webserver on {self.url} loading hokusai_assets")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_services(self) -> None:
        install_instance_file(HomeLayout(self.home))
        if self.with_tracking_worker:
            from hokusai_assets.services.tracking.worker import ADDRESS_ENV, TrackingWorker

            self.tracking_worker = TrackingWorker.start(HomeLayout(self.home).tracking_uri({}))
            self.env[ADDRESS_ENV] = self.tracking_worker.address
        # Create the instance's storage before two processes open it at once: two fresh
        # SQLite schedule stores stamped concurrently end up with two alembic heads.
        # (`dagster dev` does the same by opening the instance before it starts them.)
        subprocess.run(
            [str(BIN / "dagster"), "instance", "migrate"], env=self.env, cwd=REPO, check=True, capture_output=True
        )
        workspace = str(REPO / "workspace.yaml")
        self._spawn(
            "webserver",
            [str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(self.port)],
        )
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace])

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
        """SIGTERM each process we started (its group), then SIGKILL what is left. Once."""
        if self.stopped:
            return
        self.stopped = True
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
        try:  # SIGKILLed children are reaped by init, not by us: wait until they are gone.
            wait_for(lambda: not self.running_pids(), timeout, f"processes {self.running_pids()} exiting")
        finally:
            if self.tracking_worker is not None:
                self.tracking_worker.close()

    # ------------------------------------------------------------------ faults

    @property
    def daemon(self) -> subprocess.Popen:
        [daemon] = [p for p in self.processes if "dagster-daemon" in str(p.args[0]) and p.poll() is None]
        return daemon

    def kill_daemon(self) -> int:
        """SIGKILL the daemon process alone (its code server and runs are left to notice)."""
        pid = self.daemon.pid
        os.kill(pid, signal.SIGKILL)
        return pid

    def restart_daemon(self) -> None:
        """Start a daemon again on the same instance, as a supervisor would."""
        self._spawn(f"daemon-{len(self.processes)}", [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")])

    def daemon_code_servers(self) -> list[int]:
        """The daemon's code servers (`dagster api grpc`): they evaluate sensors and launch runs."""
        return [pid for pid in child_pids(self.daemon.pid) if "api grpc" in command_line(pid)]

    def running_pids(self) -> list[int]:
        """Process groups we started that still have a live member (after stop: none)."""
        return live_groups(self.processes)

    def hokusai(self, *args: str) -> subprocess.CompletedProcess:
        """The real CLI against this deployment's config and home."""
        return subprocess.run(
            [sys.executable, "-m", "hokusai_assets.entry.cli", *args],
            capture_output=True, text=True, env=self.env, cwd=REPO, timeout=120,
        )

    def submit(self, path: Path, wallet: str = WALLET) -> str:
        """`hokusai submit` as a user runs it; returns the partition key it prints."""
        result = self.hokusai("submit", str(path), "--wallet", wallet)
        if result.returncode != 0:
            raise RuntimeError(f"hokusai submit {path} failed: {result.stderr}")
        return json.loads(result.stdout)["partition"]

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

    def all_materializations(self, asset: str) -> list[dict]:
        """Every materialisation of ``asset``, not only each partition's latest: {partition, runId, timestamp (ms)}."""
        data = self.query(ALL_MATERIALIZATIONS, {"path": [asset]})
        return (data.get("assetOrError") or {}).get("assetMaterializations") or []

    def runs_with_status(self, *statuses: str) -> list[dict]:
        """Every run in one of ``statuses`` (all runs when none is given)."""
        variables = {"statuses": list(statuses)} if statuses else {"statuses": None}
        return self.query(RUNS_WITH_STATUS, variables)["runsOrError"]["results"]

    def unfinished_runs(self) -> list[dict]:
        return self.runs_with_status(*UNFINISHED)

    def observations(self, asset: str) -> list[dict[str, str]]:
        data = self.query(OBSERVATIONS, {"path": [asset]})
        events = (data.get("assetOrError") or {}).get("assetObservations") or []
        return [
            {"partition": e["partition"], **{m["label"]: m.get("text") for m in e["metadataEntries"]}} for e in events
        ]

    def check_executions(self, asset: str, check: str) -> list[dict]:
        return self.query(CHECK_EXECUTIONS, {"path": [asset], "check": check})["assetCheckExecutions"]

    def check_executions_of_partition(self, asset: str, check: str, partition: str) -> list[dict]:
        variables = {"path": [asset], "check": check, "partition": partition}
        return self.query(PARTITION_CHECK_EXECUTIONS, variables)["assetCheckExecutions"]

    def check_partition_statuses(self, asset: str) -> dict[str, dict]:
        """check name -> {"blocking": bool, "succeeded": [partition, ...], "failed": [...], ...}:
        what the checks tab of ``asset`` draws its per-partition status from."""
        node = self.query(CHECK_PARTITIONS, {"path": [asset]})["assetNodeOrError"]
        statuses = {}
        for check in node["assetChecksOrError"]["checks"]:
            by_status = check["partitionStatuses"] or {}
            statuses[check["name"]] = {
                "blocking": check["blocking"],
                **{name.removesuffix("Partitions"): keys for name, keys in by_status.items()},
            }
        return statuses

    def latest_metadata(self, asset: str) -> dict:
        """label -> value of the latest materialisation of an unpartitioned ``asset``."""
        data = self.query(LATEST_METADATA, {"path": [asset]})
        events = (data.get("assetOrError") or {}).get("assetMaterializations") or []
        if not events:
            return {}
        values = {}
        for entry in events[0]["metadataEntries"]:
            values[entry["label"]] = next(
                (entry[field] for field in ("mdStr", "intValue", "text", "path") if field in entry), None
            )
        return values

    def partitions(self) -> list[str]:
        """The registered keys of the ``contributions`` partitions definition."""
        return self.query(PARTITION_KEYS)["assetNodeOrError"]["partitionKeys"]

    def sensor_ticks(self, name: str) -> list[dict]:
        return self.query(SENSOR_TICKS, {"name": name})["sensorOrError"]["sensorState"]["ticks"]

    def runs_for_partition(self, partition: str) -> list[dict]:
        return self.query(RUNS_FOR_PARTITION, {"partition": partition})["runsOrError"]["results"]

    def sensor(self, name: str) -> dict:
        """{"status": RUNNING|STOPPED, "interval": seconds} of one sensor."""
        sensor = self.query(SENSOR_STATUS, {"name": name})["sensorOrError"]
        return {"status": sensor["sensorState"]["status"], "interval": sensor["minIntervalSeconds"]}

    def run_events(self, run_id: str) -> tuple[str, list[dict]]:
        """(status, [{type, message, stepKey}]) of one run."""
        run = self.query(RUN_EVENTS, {"runId": run_id})["runOrError"]
        events = [
            {"type": e["__typename"], "message": e.get("message"), "step": e.get("stepKey")}
            for e in run["eventConnection"]["events"]
        ]
        return run["status"], events

    def run_times(self, run_id: str) -> dict[str, float]:
        """creationTime, startTime, endTime of a run (Unix seconds)."""
        return self.query(RUN_TIMES, {"runId": run_id})["runOrError"]

    def finished_runs(self, partition: str) -> list[dict]:
        """The partition's runs, once none of them is queued, starting or running."""
        runs = self.runs_for_partition(partition)
        if not runs or any(r["status"] in UNFINISHED for r in runs):
            return []
        return runs
