"""A real `hokusai serve` process (and a real redis-server) on free loopback ports, stopped by pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from hokusai_assets_tests.e2e.platform import free_port, wait_for


def two_attested_versions(root: Path, config_overrides: dict | None = None) -> dict:
    """A mock task under ``root`` with two attested, accepted versions of its model (the second
    trained on the contribution with a little noise); version 1 is champion."""
    from hokusai_assets.api import ModelRegistry
    from hokusai_assets.entry.runner import evaluate_file
    from hokusai_assets.lib.intake.contributions import Contributor
    from hokusai_assets.lib.samples.mock_task import write_mock_task
    from hokusai_assets.settings.load import load_settings

    task = write_mock_task(root / "task")
    if config_overrides:
        import yaml

        config = yaml.safe_load(task.config_path.read_text())
        for section, values in config_overrides.items():
            config.setdefault(section, {}).update(values)
        task.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    home = root / "home"
    settings = load_settings(config_path=task.config_path, home=home, environ={})
    rows = pd.read_csv(task.contribution_path)
    features = settings.schema.feature_names
    noise = np.random.RandomState(7).normal(0.0, 0.1, (len(rows), len(features)))
    second = root / "second.csv"
    rows.assign(**{c: (rows[c] + noise[:, i]).round(4) for i, c in enumerate(features)}).to_csv(second, index=False)
    for path in (task.contribution_path, second):
        outcome = evaluate_file(settings, path, Contributor(wallet=task.wallet))
        assert outcome.accepted, outcome
    api = ModelRegistry(settings=settings)
    api.promote("1", actor="test", reason="first champion")
    return {"task": task, "home": home, "settings": settings, "api": api, "root": root}


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

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown code runs."""
        if self.process.poll() is None:
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
