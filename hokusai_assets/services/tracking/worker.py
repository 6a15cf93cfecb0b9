"""A tracking worker: MLflow's start-up cost paid on the second core while the graph runs.

Importing MLflow and opening a new SQLite tracking store take 3 to 4 s here, about as long
as a whole dry run. A headless run (``hokusai run``, ``hokusai evaluate``) therefore starts
this worker before its graph; the worker imports MLflow and Matplotlib, opens (creating
and migrating if new) the store, then waits on a Unix socket. The ``mlflow_run`` asset
sends it one :class:`~hokusai_assets.lib.tracking.record.ContributionRecord` and gets the result
back. Runs launched by the Dagster daemon have no worker and log in-process: the same
function (``runs.track_contribution``) either way.

The socket sits in a fresh 0700 directory, so only this user can connect, and messages
are JSON bytes (``multiprocessing.connection``'s ``send_bytes``, never its pickling
``send``). This module stays light: the parent imports it, not MLflow.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Client, Listener
from pathlib import Path
from typing import Any

from hokusai_assets.lib.errors import HokusaiError

SOCKET_NAME = "tracking.sock"
# Where launched runs find a platform's long-lived worker (`hokusai dev` starts one; so can
# `hokusai tracking-worker`): every run then logs through one warm MLflow instead of
# importing it anew, and the tracking store has one writer.
ADDRESS_ENV = "HOKUSAI_TRACKING_WORKER"
LOG_NAME = "worker.log"
# Quiet, offline MLflow: no usage telemetry, no progress bars in a headless run's output.
WORKER_ENVIRONMENT = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


class WorkerUnavailable(HokusaiError):
    """No worker answers at the address: the caller should log in-process instead."""

    code = "E_TRACKING_WORKER"


class TrackingWorker:
    """The parent's handle on one worker process; a context manager that stops it."""

    def __init__(self, process: subprocess.Popen, directory: Path) -> None:
        self.process = process
        self.directory = directory

    @property
    def address(self) -> str:
        return str(self.directory / SOCKET_NAME)

    @classmethod
    def start(cls, tracking_uri: str, framework: str = "sklearn") -> TrackingWorker:
        """Start a worker for ``tracking_uri``; ``framework`` says which model classes to preload."""
        # mkdtemp makes the directory 0700; /tmp keeps the socket path under AF_UNIX's 108 bytes.
        directory = Path(tempfile.mkdtemp(prefix="hokusai-tracking-"))
        log = open(directory / LOG_NAME, "wb")
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hokusai_assets.services.tracking.worker",
                    str(directory / SOCKET_NAME),
                    tracking_uri,
                    framework,
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **WORKER_ENVIRONMENT},
            )
        finally:
            log.close()
        return cls(process, directory)

    def log_tail(self, lines: int = 20) -> str:
        path = self.directory / LOG_NAME
        if not path.is_file():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def close(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            try:
                _exchange(self.address, {"op": "stop"}, connect_timeout=1.0)
            except (WorkerUnavailable, OSError, EOFError):
                self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> TrackingWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _connect(address: str, connect_timeout: float):
    """Connect, waiting (bounded) for a worker that is still starting to open its socket."""
    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            return Client(address, family="AF_UNIX")
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            if time.monotonic() >= deadline:
                raise WorkerUnavailable(f"no tracking worker at {address}: {exc}") from exc
            time.sleep(0.02)


def _exchange(address: str, message: dict, connect_timeout: float) -> dict:
    with _connect(address, connect_timeout) as connection:
        try:
            connection.send_bytes(json.dumps(message).encode())
            return json.loads(connection.recv_bytes())
        except (EOFError, OSError) as exc:  # it exited (or was killed) between connect and reply
            raise WorkerUnavailable("the tracking worker exited before answering") from exc


def request_tracking(address: str, record: dict, connect_timeout: float = 2.0) -> dict[str, Any]:
    """Have the worker at ``address`` log ``record`` (a ContributionRecord as JSON).

    Raises :class:`WorkerUnavailable` when nobody answers (log in-process instead), or
    the worker's own error (``TrackingError`` codes) when logging failed.
    """
    reply = _exchange(address, {"op": "track", "record": record}, connect_timeout)
    if not reply.get("ok"):
        raise HokusaiError(reply.get("message", "the tracking worker failed"), code=reply.get("code", "E_TRACKING"))
    return reply["result"]


# ----------------------------------------------------------------------------- the worker process


def _exit_with_parent(parent: int, directory: Path) -> None:
    """A worker whose parent died (killed run, crash) removes its socket and exits."""
    while os.getppid() == parent:
        time.sleep(1.0)
    shutil.rmtree(directory, ignore_errors=True)
    os._exit(0)


def _answer(connection, track) -> bool:
    """Answer one request on ``connection``; True when it asks the worker to stop."""
    try:
        message = json.loads(connection.recv_bytes())
    except ValueError:
        return False
    if not isinstance(message, dict):
        reply = {"ok": False, "code": "E_TRACKING_FAILED", "message": "a request is a JSON object"}
    elif message.get("op") == "stop":
        connection.send_bytes(b'{"ok": true}')
        return True
    else:
        reply = track(message)
    connection.send_bytes(json.dumps(reply).encode())
    return False


def _serve(address: str, tracking_uri: str, framework: str, parent: int) -> None:
    """Answer tracking requests until told to stop; ``parent`` 0 serves on its own (a service)."""
    listener = Listener(address, family="AF_UNIX")  # first, so a client can connect at once
    # The parent's pid comes from the parent: if it died before we got here, getppid()
    # would already name init, and we would wait for the wrong process.
    if parent:
        threading.Thread(target=_exit_with_parent, args=(parent, Path(address).parent), daemon=True).start()
    from hokusai_assets.lib.tracking.record import ContributionRecord
    from hokusai_assets.services.tracking import runs  # the expensive import this process exists for

    try:
        runs.warm_up(tracking_uri, framework)
    except Exception as exc:  # reported again, properly, when a request fails the same way
        print(f"warm-up failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    def track(message: dict) -> dict:
        try:
            return {"ok": True, "result": runs.track_contribution(ContributionRecord.from_json(message["record"]))}
        except HokusaiError as exc:
            return {"ok": False, **exc.as_dict()}
        except Exception as exc:  # the asset shows it; the worker stays up for the next one
            return {"ok": False, "code": "E_TRACKING_FAILED", "message": f"{type(exc).__name__}: {exc}"}

    while True:
        try:
            with listener.accept() as connection:
                if _answer(connection, track):
                    break
        except (EOFError, OSError):  # the client went away mid-exchange (its run was killed): serve the next
            continue
    listener.close()
    # Everything logged is committed by now; skipping interpreter teardown (MLflow's exit
    # hooks and module finalisation, about 1.5 s) keeps the headless run from waiting on it.
    os._exit(0)


def _require_private_directory(directory: Path) -> None:
    """Runs send records to whoever listens on the socket: its folder must be this user's
    alone (not a symlink, not shared), or another user could put a socket of their own there."""
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise HokusaiError(
            f"{directory} is not a folder only this user can use (owner uid {info.st_uid}, mode "
            f"{stat.filemode(info.st_mode)}); put the socket in a private folder (mode 0700) of yours",
            code="E_TRACKING_WORKER",
        )


def serve_forever(address: str, tracking_uri: str, framework: str) -> None:
    """A long-lived worker at ``address`` (``hokusai tracking-worker``), until SIGTERM or SIGINT."""
    import signal

    socket_path = Path(address)
    socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _require_private_directory(socket_path.parent)
    try:  # a socket a live worker answers on is not ours to take; one nobody answers is a leftover
        Client(address, family="AF_UNIX").close()
    except (FileNotFoundError, ConnectionRefusedError):
        socket_path.unlink(missing_ok=True)
    else:
        raise HokusaiError(
            f"a tracking worker already listens at {address}; stop it or choose another --socket",
            code="E_TRACKING_WORKER",
        )
    os.environ.update(WORKER_ENVIRONMENT)

    def stop(signum: int, frame: object) -> None:
        Path(address).unlink(missing_ok=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _serve(address, tracking_uri, framework, parent=0)


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
