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

# A summary of the exception's message: the log holds the rest.
SUMMARY_CHARS = 200


def error_summary(error: BaseException) -> str:
    """The exception's type and the first line of its message, as one printable line."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    text = printable(text)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


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
