"""The log of an unexpected error: its whole traceback in a file, never on the terminal.

An error the domain raises on purpose (``HokusaiError``) says what is wrong in one line. Any
other exception is a bug or an unforeseen condition: the CLI still prints one line,
``error[E_INTERNAL]: ...; details in <log>``, and the traceback goes to that log, under
``HOKUSAI_HOME/logs/`` (settings/layout.py), or the system's temporary folder when no home
was named or the home cannot be written to.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from hokusai_assets.lib.files import printable


def error_summary(error: BaseException) -> str:
    """What the one line says of an unexpected exception: its type only. Its message can
    quote a cell of the file being read (pandas and numpy errors do), so it stays in the log."""
    return printable(type(error).__name__)


def write_error_log(logs_dir: Path | None, error: BaseException, argv: list[str]) -> Path | None:
    """Write ``error``'s traceback, with the command line and versions, to a new file in
    ``logs_dir`` (else the temporary folder) readable by its owner only; return its path, or
    None if no file could be written anywhere (the caller still has its one line to print).
    """
    stamp = datetime.now(timezone.utc)
    text = "".join(
        [
            f"hokusai {_version()} on Python {platform.python_version()} ({sys.platform}), "
            f"{stamp.isoformat(timespec='seconds')}, pid {os.getpid()}\n",
            f"command: {' '.join(printable(arg) for arg in argv)}\n\n",
            *traceback.format_exception(error),
        ]
    ).encode("utf-8", errors="backslashreplace")
    if logs_dir is not None:
        try:
            logs_dir.mkdir(parents=True, exist_ok=True)
            path = logs_dir / f"error-{stamp.strftime('%Y%m%dT%H%M%S%fZ')}-{os.getpid()}.log"
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(handle, "wb") as out:
                out.write(text)
            return path
        except OSError:
            pass  # a home that cannot be written to: the temporary folder below
    try:
        handle, name = tempfile.mkstemp(prefix="hokusai-error-", suffix=".log")  # mode 0600, a fresh name
        with os.fdopen(handle, "wb") as out:
            out.write(text)
        return Path(name)
    except OSError:
        return None


def _version() -> str:
    try:
        return metadata.version("hokusai_assets")
    except metadata.PackageNotFoundError:
        return "(not installed)"
