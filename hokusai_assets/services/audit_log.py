"""The append-only audit log (``HOKUSAI_HOME/registry/audit.jsonl``): one JSON line per registry
change or experiment decision, refusals included, fsynced before the caller goes on."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def append_audit(log: Path, entry: dict[str, Any]) -> dict[str, Any]:
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    with open(log, "a", encoding="utf-8") as handle:  # earlier lines are never touched
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    return entry
