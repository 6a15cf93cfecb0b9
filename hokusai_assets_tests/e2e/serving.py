"""A real `hokusai serve` process (and a real redis-server) on free loopback ports, stopped by pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from hokusai_assets_tests.e2e.platform import free_port, wait_for


class Server:
    def __init__(self, home: Path, config: Path, env: dict | None = None, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_", "MLFLOW_"))}
        environ.update(HOKUSAI_HOME=str(home), **(env or {}))
        self.log = log or home / f"serve-{self.port}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "hokusai_assets.entry.cli", "serve", "--config", str(config), "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 120.0) -> None:
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"hokusai serve exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout, "hokusai serve to be ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def __enter__(self) -> Server:
        try:
            self.wait_ready()
        except BaseException:  # __exit__ does not run when __enter__ fails: stop it here
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class RedisServer:
    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError("redis-server is not installed: `make test` installs it (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        folder.mkdir(parents=True, exist_ok=True)
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def __enter__(self) -> RedisServer:
        import redis

        def up():
            try:
                return redis.Redis(port=self.port, socket_timeout=1).ping()
            except redis.RedisError:
                return False

        try:
            wait_for(up, 30, "redis-server to answer")
        except BaseException:  # __exit__ does not run when __enter__ fails: stop it here
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def __exit__(self, *exc) -> None:
        self.stop()
