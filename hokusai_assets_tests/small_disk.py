"""A small real file system (tmpfs) to fill up: what a full disk under HOKUSAI_HOME is.

Mounting needs root, which these tests have here; without it the tests that need a full disk
are skipped, saying so (a private user and mount namespace, ``unshare --user --map-root-user
--mount``, would hide the mount from the test process that checks what was written). Every
mount is unmounted when its block ends, whether the test passed or not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BALLAST = ".ballast"  # a dot name: the inbox scanner and the store never look at it


@contextmanager
def small_disk(directory: Path, size_kib: int) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` KiB mounted at ``directory`` for the block; unmounted afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a full disk is a real tmpfs here, and mounting one needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {directory}: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        # A process of the test still holding a file there must not leave the mount behind.
        if subprocess.run(["umount", str(directory)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(directory)], check=True)


def fill(directory: Path, leave_bytes: int = 0) -> Path:
    """Fill the file system holding ``directory`` until at most ``leave_bytes`` are free."""
    ballast = directory / BALLAST
    free = shutil.disk_usage(directory).free
    with open(ballast, "ab") as out:
        chunk = b"\0" * (1 << 20)
        remaining = free - leave_bytes
        while remaining > 0:
            try:
                out.write(chunk[: min(len(chunk), remaining)])
                out.flush()
            except OSError:
                break  # full: what tmpfs counts in pages is a little more than what was asked
            remaining -= len(chunk)
    assert shutil.disk_usage(directory).free <= leave_bytes
    return ballast


def free_again(directory: Path) -> None:
    (directory / BALLAST).unlink(missing_ok=True)


def left_behind(directory: Path) -> list[Path]:
    """Temporary and partial files or folders under ``directory``: none may survive a failed write."""
    return sorted(
        p.relative_to(directory)
        for p in directory.rglob("*")
        if p.name != BALLAST and (p.name.endswith((".tmp", ".partial", ".old")) or ".tmp" in p.name)
    )
