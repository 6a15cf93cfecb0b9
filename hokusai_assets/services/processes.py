"""Whether a process that announced itself is still the one alive under its pid.

A pid alone is not an identity: once a process exits, the kernel may hand its number to a
new one. A run worker announces its pid when it starts; it is the same process only while a
process with that pid exists, is not a zombie, and started no later than the announcement.
"""

import os
from pathlib import Path

# Boot time has whole-second resolution in /proc/stat and start times tick at 1/100 s: a
# process that started this long after its announcement is certainly another one.
START_TIME_SLACK_SECONDS = 2.0


def process_alive(pid: int, announced_at: float) -> bool:
    """True while ``pid`` is a live process that started no later than ``announced_at``
    (Unix seconds, when the process announced itself); False once it has exited, while it is
    a zombie nobody reaped, or when the pid now names a process started after the announcement.
    Where there is no /proc (not Linux), a process existing under the pid counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return True
    state, started_at = stat
    if state in ("Z", "X"):
        return False
    return started_at <= announced_at + START_TIME_SLACK_SECONDS


def stat_fields(pid: int) -> list[str] | None:
    """Fields 3 onward of /proc/<pid>/stat (proc(5)): state, ppid, pgrp, ...; None when there
    is no such process (or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    return stat[stat.rindex(")") + 2 :].split()


def _proc_stat(pid: int) -> tuple[str, float] | None:
    """(state letter, start time in Unix seconds) from /proc, or None where /proc has no answer."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    try:
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    state, start_ticks = fields[0], int(fields[19])  # fields 3 and 22 of proc(5)
    return state, int(boot.split()[1]) + start_ticks / os.sysconf("SC_CLK_TCK")
