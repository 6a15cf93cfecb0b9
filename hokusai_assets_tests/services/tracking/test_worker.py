"""The tracking worker process: its protocol, its errors, and that it never outlives its parent."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hokusai_assets.defs.resources import TrackingResource
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.services.tracking.worker import TrackingWorker, WorkerUnavailable, request_tracking
from hokusai_assets.settings.layout import HomeLayout


def _wait_for_exit(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie still answers kill(0); its state in /proc says it has exited.
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(") ")[1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_no_worker_at_the_address_is_reported_as_unavailable(tmp_path):
    started = time.monotonic()
    with pytest.raises(WorkerUnavailable):
        request_tracking(str(tmp_path / "nobody.sock"), {}, connect_timeout=0.3)
    assert time.monotonic() - started < 5


def test_a_failed_request_comes_back_as_an_error_and_the_worker_stops_cleanly(tmp_path):
    with TrackingWorker.start(HomeLayout(tmp_path).tracking_uri({})) as worker:
        assert oct(worker.directory.stat().st_mode & 0o777) == "0o700"
        with pytest.raises(HokusaiError) as raised:
            request_tracking(worker.address, {"not": "a record"}, connect_timeout=30)
        assert raised.value.code == "E_TRACKING_FAILED" and "TypeError" in raised.value.message
        # Still serving after an error: the same answer again, not a dead socket.
        with pytest.raises(HokusaiError):
            request_tracking(worker.address, {"not": "a record"}, connect_timeout=30)
        process = worker.process
    assert process.returncode == 0
    assert not worker.directory.exists()


def test_worker_exits_when_its_parent_dies(tmp_path):
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from hokusai_assets.services.tracking.worker import TrackingWorker\n"
            f"worker = TrackingWorker.start({HomeLayout(tmp_path).tracking_uri({})!r})\n"
            "print(worker.process.pid, worker.directory, flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    pid, directory = parent.stdout.readline().split()
    parent.kill()
    parent.wait()
    assert _wait_for_exit(int(pid), 30), "the orphaned worker is still running"
    assert not os.path.exists(directory)


def test_resource_logs_in_process_when_the_worker_is_gone(tmp_path):
    class Log:
        warnings = []

        def warning(self, message):
            self.warnings.append(message)

    resource = TrackingResource(home=str(tmp_path), worker_address=str(tmp_path / "gone.sock"))
    log = Log()
    # A record that fails in-process proves the fallback ran here, after the warning.
    with pytest.raises(Exception):
        resource.track({"not": "a record"}, log)
    assert log.warnings and "logging to MLflow in this process instead" in log.warnings[0]


def test_hokusai_tracking_worker_serves_until_sigterm_and_removes_its_socket(tmp_path):
    """The long-lived worker a platform runs beside its daemon (`hokusai tracking-worker`)."""
    import signal

    socket_path = tmp_path / "w" / "tracking.sock"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "MLFLOW_TRACKING"))}
    environ["HOKUSAI_HOME"] = str(tmp_path / "home")
    process = subprocess.Popen(
        [sys.executable, "-m", "hokusai_assets.entry.cli", "tracking-worker", "--socket", str(socket_path)],
        env=environ, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert f"HOKUSAI_TRACKING_WORKER={socket_path}" in process.stderr.readline()
        for _ in range(2):  # it answers request after request, errors included, and stays up
            with pytest.raises(HokusaiError) as raised:
                request_tracking(str(socket_path), {"not": "a record"}, connect_timeout=60)
            assert raised.value.code == "E_TRACKING_FAILED"
        assert oct(socket_path.parent.stat().st_mode & 0o777) == "0o700"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert not socket_path.exists()
    finally:
        process.kill()
        process.wait()


def test_launched_runs_use_the_platform_worker_named_in_the_environment(tmp_path, monkeypatch):
    from hokusai_assets.defs.resources import build_resources

    monkeypatch.setenv("HOKUSAI_TRACKING_WORKER", "/tmp/hokusai-tracking-x/tracking.sock")
    assert build_resources(str(tmp_path / "hokusai.yaml"), str(tmp_path))["mlflow_tracking"].worker_address == (
        "/tmp/hokusai-tracking-x/tracking.sock"
    )
    monkeypatch.delenv("HOKUSAI_TRACKING_WORKER")
    assert build_resources(str(tmp_path / "hokusai.yaml"), str(tmp_path))["mlflow_tracking"].worker_address == ""


def test_a_client_that_goes_away_or_sends_no_object_does_not_stop_the_worker(tmp_path):
    from multiprocessing.connection import Client

    with TrackingWorker.start(HomeLayout(tmp_path).tracking_uri({})) as worker:
        with pytest.raises(HokusaiError):  # waits for the worker to be listening
            request_tracking(worker.address, {"not": "a record"}, connect_timeout=30)
        Client(worker.address, family="AF_UNIX").close()  # connected, sent nothing
        with Client(worker.address, family="AF_UNIX") as connection:  # sent, never read the answer
            connection.send_bytes(b'{"record": {}}')
        with Client(worker.address, family="AF_UNIX") as connection:
            connection.send_bytes(b"[1, 2]")  # JSON, but not a request
            assert json.loads(connection.recv_bytes()) == {
                "ok": False, "code": "E_TRACKING_FAILED", "message": "a request is a JSON object"
            }
        with pytest.raises(HokusaiError) as raised:  # still answering
            request_tracking(worker.address, {"not": "a record"}, connect_timeout=30)
        assert raised.value.code == "E_TRACKING_FAILED"
        assert worker.process.poll() is None


def _tracking_worker_cli(tmp_path, socket_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "MLFLOW_TRACKING"))}
    environ["HOKUSAI_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, "-m", "hokusai_assets.entry.cli", "tracking-worker", "--socket", str(socket_path)],
        env=environ, capture_output=True, text=True, timeout=120,
    )


def test_the_service_refuses_a_socket_folder_others_can_use_and_a_socket_a_worker_answers_on(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    refused = _tracking_worker_cli(tmp_path, shared / "tracking.sock")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "error[E_TRACKING_WORKER]" in refused.stderr and "private folder" in refused.stderr

    with TrackingWorker.start(HomeLayout(tmp_path).tracking_uri({})) as worker:
        taken = _tracking_worker_cli(tmp_path, worker.address)
        assert taken.returncode != 0 and "already listens" in taken.stderr
        assert Path(worker.address).exists() and worker.process.poll() is None  # left alone
