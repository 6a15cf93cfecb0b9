"""The alerts' files under HOKUSAI_HOME: the suppression state and the undelivered record.

The state (``alerts/state.json``: per target, its open suppression windows) is read and
written under an exclusive lock, held only while the windows are updated, never while a
delivery waits: the alert sensors of one daemon run in threads side by side. A state file
that cannot be read (damaged by hand) starts afresh, and says so.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hokusai_assets.lib.files import atomic_write_bytes


@contextmanager
def locked_state(path: Path, warn=None) -> Iterator[dict[str, Any]]:
    """The state as a dict, written back when the block ends without an error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = _read(path, warn)
            yield state
            atomic_write_bytes(path, json.dumps(state, sort_keys=True, indent=1).encode("utf-8"), mode=0o600)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path, warn) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        if warn is not None:
            warn(f"{path} cannot be read ({type(error).__name__}); suppression starts afresh")
        return {}
    return state if isinstance(state, dict) else {}


def record_undelivered(log: Path, entry: dict[str, Any]) -> None:
    """One JSON line per alert a target did not take; earlier lines are never touched."""
    log.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
