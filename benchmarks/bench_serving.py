"""Serving figures: `hokusai serve` beside `mlflow models serve --env-manager local`, the
server a user would start instead, both answering for the same scikit-learn estimator.

The mock task's contribution is evaluated into a fresh home and version 1 promoted to
champion; `hokusai serve` answers for it, and its estimator, saved in MLflow's native sklearn
flavour (with a signature), is what MLflow serves, with one uvicorn worker (``--workers 1``,
also MLflow's default), as `hokusai serve` runs one process. The servers run one after the
other, never both at once, on free loopback ports. Against each, CONCURRENCY coroutines
sharing one ``httpx.AsyncClient`` loop for SECONDS per mix, after an untimed two-second
warm-up on other rows:

- ``cold``: one row a request, no row ever sent twice (nor in the warm-up);
- ``warm``: one row a request, 90% of them one of a pool of 50 rows (warmed up), 10% fresh;
- ``batch100``: 100 distinct rows a request.

Rows are normal values rounded to six decimals from seeded ``RandomState``s, with ``f12``
carrying the phase and a counter, so they are the same for both servers and distinct where
they must be. Only 200 answers count: req/s is successes over the timed window, p50 and p99
the latencies of successes. Peak memory is the sum of ``VmHWM`` over the server process and
its descendants (MLflow's CLI starts uvicorn as a child), read just before it is stopped.
The load generator shares the machine's cores with the server, so it caps what a fast
server can show: the ``client cpu`` column is this process's CPU time over the window (100%
is one core), and the ``probe`` rows, GETs of each server's health endpoint (``/healthz``,
``/ping``) for up to five seconds, are what this client and HTTP stack manage at all. Exits
0 when a target is missed: it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

CONCURRENCY = 16
SECONDS = 20.0
WARMUP_SECONDS = 2.0
POOL_ROWS = 50
WARM_REPEAT = 0.9
BATCH_ROWS = 100
READY_TIMEOUT = 180.0
STOP_TIMEOUT = 20.0
MIXES = ("cold", "warm", "batch100")
PROBE = "probe"
PROBE_SECONDS = 5.0
TARGET_COLD = 10.0  # hokusai / mlflow req/s
TARGET_WARM = 30.0
TARGET_RSS_MIB = 500.0
BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[bench_serving] {message}", file=sys.stderr, flush=True)


# -- rows -----------------------------------------------------------------------------------


class Rows:
    """Distinct rows: seeded normal values with six decimals; ``f12`` is ``namespace * 100``
    plus a counter in millionths, so no two rows of one namespace, nor of two, are equal."""

    def __init__(self, names: list[str], seed: int, namespace: int) -> None:
        self.names = names
        self.rs = np.random.RandomState(seed)
        self.namespace = namespace
        self.count = 0
        self.block: list[list[float]] = []

    def take(self, n: int) -> list[dict[str, float]]:
        rows = []
        for _ in range(n):
            if not self.block:
                self.block = np.round(self.rs.normal(0.0, 1.0, (4096, len(self.names))), 6).tolist()
                self.block.reverse()
            values = self.block.pop()
            values[-1] = round(self.namespace * 100.0 + self.count * 1e-6, 6)
            self.count += 1
            rows.append(dict(zip(self.names, values, strict=True)))
        return rows


def bodies(mix: str, names: list[str], key: str, warmup: bool) -> Callable[[], bytes]:
    """The next request body of a mix, as bytes; ``key`` is the server's list field. The same
    arguments give the same sequence; warm-up rows never appear in the timed phase."""

    def encode(rows: list[dict[str, float]]) -> bytes:
        return json.dumps({key: rows}).encode()

    if mix == "cold":
        fresh = Rows(names, seed=2 if warmup else 1, namespace=2 if warmup else 1)
        return lambda: encode(fresh.take(1))
    if mix == "warm":
        pool = Rows(names, seed=3, namespace=3).take(POOL_ROWS)
        fresh = Rows(names, seed=5 if warmup else 4, namespace=5 if warmup else 4)
        pick = np.random.RandomState(7 if warmup else 6)

        def warm() -> bytes:
            if pick.rand() < WARM_REPEAT:
                return encode([pool[pick.randint(POOL_ROWS)]])
            return encode(fresh.take(1))

        return warm
    if mix == "batch100":
        fresh = Rows(names, seed=9 if warmup else 8, namespace=7 if warmup else 6)
        return lambda: encode(fresh.take(BATCH_ROWS))
    raise ValueError(mix)


# -- load -----------------------------------------------------------------------------------


@dataclass
class Result:
    elapsed: float = 0.0
    client_cpu: float = 0.0  # this process's CPU seconds over the window, per second
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")


async def load(url: str, next_body: Callable[[], bytes | None], seconds: float, concurrency: int) -> Result:
    """Requests from ``concurrency`` coroutines for ``seconds``: a POST of each body, or a GET
    when ``next_body`` gives None."""
    result = Result()
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0)) as client:

        async def worker(deadline: float) -> None:
            while time.perf_counter() < deadline:
                body = next_body()
                started = time.perf_counter()
                try:
                    if body is None:
                        response = await client.get(url)
                    else:
                        response = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError as error:
                    kind = type(error).__name__
                    result.errors[kind] += 1
                    result.samples.setdefault(kind, str(error)[:200])
                    await asyncio.sleep(0.05)
                    continue
                took = time.perf_counter() - started
                if response.status_code == 200:
                    result.latencies.append(took)
                else:
                    kind = f"HTTP {response.status_code}"
                    result.errors[kind] += 1
                    result.samples.setdefault(kind, response.text[:200])

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - started
        result.client_cpu = (time.process_time() - cpu) / result.elapsed
    return result


# -- servers --------------------------------------------------------------------------------


class ServerFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_", "MLFLOW_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # MLflow starts `uvicorn` by name
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env.update(extra)
    return env


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    """One server process in its own session, its output in ``log_path``, stopped by pid."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int, ready_path: str, log_path: Path):
        self.name, self.command, self.env, self.port = name, command, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.ready_path, self.log_path = ready_path, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(
                    f"{self.name} exited with status {self.process.returncode} before it was ready; see {self.log_path}"
                )
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise ServerFailed(
            f"{self.name} was not ready ({self.ready_path} 200) within {READY_TIMEOUT:.0f} s; see {self.log_path}"
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def peak_rss_mib(self) -> float:
        if not self.alive():
            return float("nan")
        return sum(vm_hwm_kib(pid) for pid in descendants(self.process.pid)) / 1024

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not exit {STOP_TIMEOUT:.0f} s after SIGTERM; sending SIGKILL")
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass


# -- set-up ---------------------------------------------------------------------------------


@dataclass
class Setup:
    config: Path
    home: Path
    model_name: str
    feature_names: list[str]
    mlflow_model: Path


def prepare(root: Path) -> Setup:
    from hokusai_assets.api import ModelRegistry
    from hokusai_assets.entry.runner import evaluate_file
    from hokusai_assets.lib.intake.contributions import Contributor
    from hokusai_assets.lib.samples.mock_task import write_mock_task
    from hokusai_assets.lib.training.model import model_from_bytes
    from hokusai_assets.settings.load import load_settings

    log("writing the mock task and evaluating its contribution (about 30 s)")
    task = write_mock_task(root / "task")
    settings = load_settings(config_path=task.config_path, home=root / "home", environ={})
    started = time.perf_counter()
    outcome = evaluate_file(settings, task.contribution_path, Contributor(wallet=task.wallet))
    log(
        f"evaluated partition {outcome.partition} in {time.perf_counter() - started:.1f} s (accepted: {outcome.accepted})"
    )
    ModelRegistry(settings=settings).promote("1", actor="bench", reason="benchmark champion")
    log("promoted version 1 to champion")

    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    model = model_from_bytes(settings.layout.model_file("improved_model", outcome.partition).read_bytes())
    example = pd.DataFrame(Rows(model.feature_names, seed=99, namespace=99).take(5), columns=model.feature_names)
    signature = infer_signature(example, model.estimator.predict(example))
    path = root / "mlflow_model"
    mlflow.sklearn.save_model(model.estimator, str(path), signature=signature)
    log(f"saved the champion's {type(model.estimator).__name__} in MLflow's sklearn flavour")
    return Setup(
        task.config_path, root / "home", settings.config.registered_model_name, list(model.feature_names), path
    )


def hokusai_server(setup: Setup, root: Path) -> tuple[Server, str, str, str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "hokusai_assets.entry.cli",
        "serve",
        "--config",
        str(setup.config),
        "--port",
        str(port),
    ]
    server = Server(
        "hokusai serve", command, clean_env(HOKUSAI_HOME=str(setup.home)), port, "/readyz", root / "hokusai-serve.log"
    )
    return server, f"/v1/models/{setup.model_name}/predict", "records", "/healthz"


def mlflow_server(setup: Setup, root: Path) -> tuple[Server, str, str, str]:
    port = free_port()
    command = [
        str(BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        str(setup.mlflow_model),
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--workers",
        "1",
    ]
    server = Server("mlflow models serve", command, clean_env(), port, "/ping", root / "mlflow-serve.log")
    return server, "/invocations", "dataframe_records", "/ping"


# -- main -----------------------------------------------------------------------------------


def bench_server(
    make: Callable[[Setup, Path], tuple[Server, str, str, str]],
    setup: Setup,
    root: Path,
    seconds: float,
    concurrency: int,
) -> tuple[dict[str, Result], float]:
    """The mixes against one server, then the probe (GETs of its health endpoint: what this
    client and HTTP stack can do at all), and the server's peak RSS."""
    server, path, key, probe = make(setup, root)
    results: dict[str, Result] = {}
    rss = float("nan")
    try:
        log(f"starting {server.name} on {server.url}")
        started = time.perf_counter()
        server.start()
        log(f"{server.name} ready in {time.perf_counter() - started:.1f} s")
        for mix in MIXES:
            asyncio.run(
                load(server.url + path, bodies(mix, setup.feature_names, key, warmup=True), WARMUP_SECONDS, concurrency)
            )
            result = asyncio.run(
                load(server.url + path, bodies(mix, setup.feature_names, key, warmup=False), seconds, concurrency)
            )
            results[mix] = result
            log(f"{server.name} {mix}: {result.rate:.1f} req/s, {sum(result.errors.values())} errors")
            if not server.alive():
                raise ServerFailed(
                    f"{server.name} exited with status {server.process.returncode} during {mix}; see {server.log_path}"
                )
        results[PROBE] = asyncio.run(load(server.url + probe, lambda: None, min(seconds, PROBE_SECONDS), concurrency))
        log(f"{server.name} GET {probe}: {results[PROBE].rate:.1f} req/s")
        rss = server.peak_rss_mib()
    except ServerFailed as error:
        log(str(error))
        tail = server.log_path.read_text(errors="replace")[-1500:] if server.log_path.exists() else ""
        if tail:
            log(f"last lines of {server.log_path}:\n{tail}")
    finally:
        server.stop()
    return results, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help="timed seconds per mix (default 20)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="concurrent requests (default 16)")
    args = parser.parse_args()
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

    root = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    runs: dict[str, tuple[dict[str, Result], float]] = {}
    keep = False
    try:
        try:
            setup = prepare(root)
        except Exception as error:  # noqa: BLE001 - a benchmark reports, it does not trace back
            print(f"set-up failed: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        runs["hokusai"] = bench_server(hokusai_server, setup, root, args.seconds, args.concurrency)
        runs["mlflow"] = bench_server(mlflow_server, setup, root, args.seconds, args.concurrency)
        keep = any(PROBE not in results for results, _ in runs.values())
    finally:
        if keep:
            log(f"kept {root} for the servers' logs")
        else:
            shutil.rmtree(root, ignore_errors=True)

    print(
        f"serving benchmark: concurrency {args.concurrency}, {args.seconds:g} s per mix, one server at a time on loopback"
    )
    print(f"{'mix':<10} {'server':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'client cpu':>10}")
    for mix in (*MIXES, PROBE):
        for name, (results, _) in runs.items():
            result = results.get(mix)
            if result is None:
                print(f"{mix:<10} {name:<8} {'failed':>8}")
                continue
            errors = sum(result.errors.values())
            print(
                f"{mix:<10} {name:<8} {result.rate:>8.1f} {result.percentile(50):>8.2f} {result.percentile(99):>8.2f}"
                f" {errors:>7} {result.client_cpu:>9.0%}"
            )
    for name, (results, _) in runs.items():
        for mix, result in results.items():
            for kind, count in result.errors.most_common():
                print(f"errors: {name} {mix}: {count} x {kind}: {result.samples.get(kind, '')!r}")

    hokusai, mlflow = runs["hokusai"][0], runs["mlflow"][0]
    ratios: dict[str, float] = {}
    lower_p99 = []
    for mix in MIXES:
        if mix in hokusai and mix in mlflow and mlflow[mix].rate > 0:
            ratios[mix] = hokusai[mix].rate / mlflow[mix].rate
            lower_p99.append(hokusai[mix].percentile(99) < mlflow[mix].percentile(99))
        else:
            lower_p99.append(False)
    shown = "  ".join(f"{mix} {ratios[mix]:.1f}x" if mix in ratios else f"{mix} n/a" for mix in MIXES)
    every = "yes" if len(ratios) == len(MIXES) and all(lower_p99) else "no"
    print(f"ratios (hokusai / mlflow req/s): {shown}; p99 lower in every mix: {every}")
    rss_h, rss_m = runs["hokusai"][1], runs["mlflow"][1]
    print(f"peak RSS: hokusai {rss_h:.0f} MiB, mlflow {rss_m:.0f} MiB (target: hokusai < {TARGET_RSS_MIB:.0f} MiB)")
    met = {
        f">= {TARGET_COLD:g}x cold": ratios.get("cold", 0.0) >= TARGET_COLD,
        f">= {TARGET_WARM:g}x warm": ratios.get("warm", 0.0) >= TARGET_WARM,
        "lower p99 in every mix": every == "yes",
        f"< {TARGET_RSS_MIB:.0f} MiB": rss_h < TARGET_RSS_MIB,
    }
    print("targets: " + ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in met.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
