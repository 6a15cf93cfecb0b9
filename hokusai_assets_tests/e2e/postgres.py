"""A throw-away PostgreSQL server on loopback, for tests of the instance on PostgreSQL.

The server is the machine's own (the Debian ``postgresql`` package, which ``make test``
installs): ``initdb`` makes a cluster under the test's tmp dir, ``postgres`` serves it on
127.0.0.1 at a free port with a random password (scram-sha-256, also on the unix socket:
nothing is trusted), and it is stopped by pid at the end. PostgreSQL refuses to run as
root, so as root the binaries run as the ``postgres`` user (``setpriv``, which execs the
server itself: the pid we hold is the postmaster's).
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from hokusai_assets_tests.e2e.platform import free_port

SKIP_ENV = "HOKUSAI_SKIP_POSTGRES"
SERVER_USER = "postgres"  # the account Debian's package creates; used only when we are root
SUPERUSER = "hokusai_test"
DATABASE = "hokusai_dagster"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    db: str

    def dagster_env(self) -> dict[str, str]:
        """The variables deploy/dagster.postgres.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }

    def connect(self, db: str | None = None):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=db or self.db,
            connect_timeout=5,
        )


def _has_server(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in ("initdb", "postgres", "pg_ctl"))


def find_bindir() -> Path | None:
    """Where the server binaries are: ``pg_config --bindir``, else the newest
    ``/usr/lib/postgresql/<major>/bin`` (Debian keeps them off PATH)."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        # libpq-dev alone ships a pg_config too, naming a bindir without a server in it.
        if done.returncode == 0 and _has_server(Path(done.stdout.strip())):
            return Path(done.stdout.strip())
    majors = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit() and _has_server(p)]
    return max(majors, key=lambda p: int(p.parent.name), default=None)


def require_bindir() -> Path:
    """The server binaries, or the test stops: skipped only when asked to be, else failed,
    because installing PostgreSQL is the project's set-up's job, not the developer's."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"no PostgreSQL server binaries, and {SKIP_ENV}=1")
    pytest.fail(
        "no PostgreSQL server binaries (no initdb/postgres from `pg_config --bindir` or under "
        "/usr/lib/postgresql/*/bin). Run `make test`, which installs the `postgresql` apt package; "
        f"or set {SKIP_ENV}=1 to skip the tests that need it.",
        pytrace=False,
    )


def _as_server_user() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs a binary as the server's user, and that user (None: us)."""
    if os.geteuid() != 0:
        return [], None
    try:
        account = pwd.getpwnam(SERVER_USER)
    except KeyError:
        pytest.fail(f"running as root, and there is no `{SERVER_USER}` user to run PostgreSQL as", pytrace=False)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root, and `setpriv` (util-linux) is missing to drop to the postgres user", pytrace=False)
    return [setpriv, f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups", "--"], account


def _make_traversable(directory: Path) -> None:
    """Let the server's user reach ``directory``: pytest's tmp root is 0700 root's.

    Only the search bit is added (no listing), and pytest takes the bits of its own root
    back off (to 0700) at its next session.
    """
    for ancestor in reversed(directory.resolve().parents):
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _run(command: list[str], what: str, env: dict[str, str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _wait_accepting(server: PostgresServer, process: subprocess.Popen, log: Path) -> None:
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            server.connect(db="postgres").close()
            return
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not accepting connections within {START_TIMEOUT_SECONDS:.0f} s: {exc}")
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (a postmaster's backends and workers)."""
    children = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat_file.parent.name))
    return children


def _stop(process: subprocess.Popen, pg_ctl: list[str], env: dict[str, str]) -> None:
    """Fast shutdown (sessions cut, no checkpoint wait); if that did not end everything,
    SIGKILL the postmaster and its children by pid."""
    if process.returncode is not None:  # it died at start and was reaped already
        return
    try:
        subprocess.run(pg_ctl, capture_output=True, env=env, timeout=STOP_TIMEOUT_SECONDS + 10, check=False)
    except subprocess.TimeoutExpired:
        pass  # the kill below ends it
    # The postmaster is not reaped yet (its returncode was read, never polled), so its pid
    # is still its own, and so are its children's while it lives: these kills reach only them.
    # Backends each lead their own session, hence one kill per pid, not one per group.
    for pid in [*_children(process.pid), process.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


@contextmanager
def running_postgres(tmp_dir: Path, db: str = DATABASE) -> Iterator[PostgresServer]:
    """A PostgreSQL server with database ``db`` whose files all live in ``tmp_dir``; stopped on exit."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", db):  # it goes into CREATE DATABASE unquoted
        raise ValueError(f"database name {db!r}: lower-case letters, digits and _ only")
    bindir = require_bindir()
    prefix, account = _as_server_user()
    root = Path(tmp_dir)
    data, sockets, log = root / "data", root / "s", root / "postgres.log"
    root.mkdir(parents=True, exist_ok=True)
    sockets.mkdir()
    if account is not None:
        _make_traversable(root)
        for path in (root, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
    # A fixed locale, whatever the caller's LANG: initdb refuses locales the machine lacks.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    password = secrets.token_urlsafe(24)
    password_file = root / "pw"
    password_file.write_text(password)
    password_file.chmod(0o600)
    if account is not None:
        os.chown(password_file, account.pw_uid, account.pw_gid)
    try:
        _run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={password_file}",
             "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--encoding=UTF8", "--locale=C",
             "--no-sync"],
            "initdb", env,
        )
    finally:
        password_file.unlink()
    port = free_port()
    log_file = open(log, "wb")
    try:
        process = subprocess.Popen(
            [*prefix, str(bindir / "postgres"), "-D", str(data), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}",
             # Durability buys nothing for a server deleted after the test, and costs seconds.
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # not in our process group: a Ctrl-C reaches pytest, which stops it
        )
    finally:
        log_file.close()
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT_SECONDS)),
              "stop"]
    try:
        server = PostgresServer(host="127.0.0.1", port=port, user=SUPERUSER, password=password, db=db)
        _wait_accepting(server, process, log)
        admin = server.connect(db="postgres")
        try:
            admin.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {db}")
        finally:
            admin.close()
        yield server
    finally:
        _stop(process, pg_ctl, env)
