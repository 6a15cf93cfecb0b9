"""Every hostile input and every unforeseen failure is one line on stderr, never a traceback."""

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hokusai_assets.entry.cli import main
from hokusai_assets.settings.load import BUNDLED_CONFIG

WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
EXAMPLE = BUNDLED_CONFIG.parent / "contribution.csv"


@pytest.fixture(autouse=True)
def _no_inherited_home(monkeypatch):
    for name in [n for n in os.environ if n.startswith(("HOKUSAI_", "DAGSTER_"))]:
        monkeypatch.delenv(name)


def hokusai(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def one_error_line(result, code: str) -> str:
    """The single stderr line of a refused command (exit 2), which must start with ``error[code]``."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error[{code}]: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert "\x1b" not in lines[0]
    return lines[0]


def fail_with(monkeypatch, module: str, name: str, error: BaseException):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(f"{module}.{name}", broken)


# ---- one guard for every unforeseen exception


def test_an_unexpected_exception_is_one_line_and_a_logged_traceback(monkeypatch, tmp_path):
    fail_with(monkeypatch, "hokusai_assets.services.intake", "validate_file", RuntimeError("disk on fire\nsecond line"))
    home = tmp_path / "home"
    line = one_error_line(hokusai("validate", str(EXAMPLE), "--home", str(home)), "E_INTERNAL")
    # The message stays in the log: an unexpected error's text can quote a cell of the file.
    assert "unexpected RuntimeError; details in " in line and "disk on fire" not in line
    [log] = (home / "logs").iterdir()
    assert line.endswith(f"details in {log}")
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: disk on fire\nsecond line" in text
    assert "in broken" in text, "the whole traceback, down to the frame that raised"
    assert log.stat().st_mode & 0o077 == 0, "only its owner may read a traceback"


def test_the_log_goes_to_hokusai_home_else_a_temporary_file(monkeypatch, tmp_path):
    fail_with(monkeypatch, "hokusai_assets.services.intake", "validate_file", KeyError("column"))
    home = tmp_path / "from-env"
    line = one_error_line(hokusai("validate", str(EXAMPLE), env={"HOKUSAI_HOME": str(home)}), "E_INTERNAL")
    assert f"details in {home / 'logs'}" in line and "unexpected KeyError;" in line
    line = one_error_line(hokusai("validate", str(EXAMPLE)), "E_INTERNAL")
    log = Path(line.rsplit("details in ", 1)[1])
    try:
        assert log.parent == Path(__import__("tempfile").gettempdir()) and "KeyError" in log.read_text()
    finally:
        log.unlink()


def test_a_home_that_cannot_hold_logs_falls_back_to_a_temporary_file(monkeypatch, tmp_path):
    fail_with(monkeypatch, "hokusai_assets.services.intake", "validate_file", RuntimeError("boom"))
    not_a_folder = tmp_path / "home"
    not_a_folder.write_text("a file where the home should be")
    line = one_error_line(hokusai("validate", str(EXAMPLE), "--home", str(not_a_folder)), "E_INTERNAL")
    log = Path(line.rsplit("details in ", 1)[1])
    try:
        assert log.is_file() and "RuntimeError: boom" in log.read_text()
    finally:
        log.unlink()


def test_a_full_disk_wherever_it_surfaces_is_E_DISK_FULL_not_a_bug(monkeypatch, tmp_path):
    home = tmp_path / "home"
    database = home / "mlflow" / "mlflow.db"
    # As a library raises it (SQLAlchemy wraps sqlite3's "database or disk is full" the same way).
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(database))
    try:
        raise RuntimeError("the library's wrapper") from full
    except RuntimeError as wrapped:
        fail_with(monkeypatch, "hokusai_assets.services.intake", "validate_file", wrapped)
    line = one_error_line(hokusai("validate", str(EXAMPLE), "--home", str(home)), "E_DISK_FULL")
    assert line.startswith(f"error[E_DISK_FULL]: no space left on device under {database}")
    assert "free space there, then run the command again" in line
    assert not (home / "logs").exists(), "no log is attempted on a disk that has no room for it"
    quota = OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    fail_with(monkeypatch, "hokusai_assets.services.intake", "validate_file", quota)
    line = one_error_line(hokusai("validate", str(EXAMPLE), "--home", str(home)), "E_DISK_FULL")
    assert f"under {home}" in line


@pytest.mark.parametrize(
    "command", [["ab", "list"], ["epoch", "close"], ["models", "list"], ["keys"]], ids=" ".join
)
def test_subgroups_are_guarded_too(monkeypatch, tmp_path, command):
    fail_with(monkeypatch, "hokusai_assets.settings.load", "load_settings", ValueError("unforeseen"))
    home = tmp_path / "home"
    line = one_error_line(hokusai(*command, "--home", str(home)), "E_INTERNAL")
    assert "unexpected ValueError;" in line and f"details in {home / 'logs'}" in line


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch):
    fail_with(monkeypatch, "hokusai_assets.services.intake", "validate_file", KeyboardInterrupt())
    result = hokusai("validate", str(EXAMPLE))
    assert result.exit_code == 130 and result.stderr == "interrupted\n"


def test_usage_errors_are_still_clicks(tmp_path):
    result = hokusai("validate")
    assert result.exit_code == 2 and "Missing argument 'FILE'" in result.stderr and "E_INTERNAL" not in result.stderr
    assert hokusai("--version").exit_code == 0


def test_the_real_process_prints_no_traceback(tmp_path):
    """The guard in a fresh interpreter, as `hokusai` runs: one stderr line, exit 2, the log."""
    script = (
        "import sys, hokusai_assets.services.intake as intake\n"
        "def broken(*args, **kwargs):\n"
        "    raise RuntimeError('simulated failure')\n"
        "intake.validate_file = broken\n"
        "from hokusai_assets.entry.cli import main\n"
        "sys.argv[0] = 'hokusai'\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    env["HOKUSAI_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-c", script, "validate", str(EXAMPLE)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error[E_INTERNAL]: unexpected RuntimeError; details in ")
    [log] = (tmp_path / "home" / "logs").iterdir()
    text = log.read_text()
    assert "Traceback" in text and f"command: hokusai validate {EXAMPLE}" in text


# ---- paths that are not regular files


def hostile_paths(tmp_path: Path) -> dict[str, tuple[Path, str, str]]:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "gone.csv")
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    return {
        "directory": (folder, "E_DATA_NOT_A_FILE", "is a directory; give the data file itself"),
        "fifo": (fifo, "E_DATA_NOT_A_FILE", "is a FIFO (named pipe): hokusai reads regular files only"),
        "dangling": (dangling, "E_DATA_BROKEN_LINK", f"whose target {tmp_path / 'gone.csv'} does not exist"),
        "loop": (loop, "E_DATA_LINK_LOOP", "symbolic link loop"),
        "device": (Path("/dev/zero"), "E_DATA_NOT_A_FILE", "/dev/zero is a character device"),
        "missing": (tmp_path / "nope.csv", "E_DATA_FILE_MISSING", "nope.csv: file not found"),
    }


KINDS = ["directory", "fifo", "dangling", "loop", "device", "missing"]
COMMANDS = {"validate": [], "evaluate": ["--wallet", WALLET], "submit": ["--wallet", WALLET]}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("kind", KINDS)
def test_a_path_that_is_not_a_regular_file_says_what_it_is(tmp_path, command, kind):
    path, code, fragment = hostile_paths(tmp_path)[kind]
    home = tmp_path / "home"
    line = one_error_line(hokusai(command, str(path), *COMMANDS[command], "--home", str(home)), code)
    assert fragment in line
    assert not home.exists(), "nothing is written for a refused path"


# ---- names someone else chose


def test_a_name_with_control_characters_is_shown_on_one_clean_line(tmp_path):
    evil = tmp_path / "rows\n\x1b[31mred\u202e.csv"
    evil.write_text("")  # empty: refused, with the name in the message
    result = hokusai("validate", str(evil), "--home", str(tmp_path / "home"))
    line = one_error_line(result, "E_FORMAT_EMPTY")
    assert "rows\\n\\x1b[31mred\\u202e.csv: the file is empty" in line
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "rows\\n\\x1b[31mred\\u202e.csv: rejected" in result.stdout


# ---- files that hold no rows


@pytest.mark.parametrize(
    ("name", "content", "code", "advice"),
    [
        ("empty.json", "[]", "E_FORMAT_EMPTY", 'needs one record per row, with the task\'s columns as keys, like [{"col"'),
        ("empty.jsonl", "", "E_FORMAT_EMPTY", "JSON Lines needs one JSON object per line"),
        ("blank.jsonl", "\n\n", "E_FORMAT_EMPTY", "JSON Lines needs one JSON object per line"),
        ("header.csv", "HEADER", "E_DATA_EMPTY", "names its columns but holds no rows; add one row per example"),
        ("empty.csv", "", "E_FORMAT_EMPTY", "it needs a header row and data rows"),
        ("fieldless.json", "[{}]", "E_FORMAT_EMPTY", "no columns; it needs the task's feature and label columns"),
    ],
)
def test_a_file_without_rows_gets_advice(tmp_path, name, content, code, advice):
    path = tmp_path / name
    path.write_text(EXAMPLE.read_text().splitlines()[0] + "\n" if content == "HEADER" else content)
    line = one_error_line(hokusai("validate", str(path), "--home", str(tmp_path / "home")), code)
    assert line.startswith(f"error[{code}]: {name}: ") and advice in line


# ---- hokusai serve


def test_serve_on_a_busy_port_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_error_line(hokusai("serve", "--port", str(port), "--home", str(tmp_path / "home")), "E_SERVE_LISTEN")
    assert f"cannot listen on 127.0.0.1:{port}" in line and "choose another --port" in line


def test_serve_on_an_unknown_host_is_one_line(tmp_path):
    result = hokusai("serve", "--host", "no-such-host.invalid", "--home", str(tmp_path / "home"))
    assert "the host does not resolve" in one_error_line(result, "E_SERVE_LISTEN")


def test_validate_still_accepts_the_example(tmp_path):
    result = hokusai("validate", str(EXAMPLE), "--json", "--home", str(tmp_path / "home"))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accepted"]
