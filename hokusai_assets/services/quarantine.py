"""Quarantine: where rejected files wait, byte for byte as received, with their reason.

A rejected file is moved (never rewritten) to ``quarantine/<stamp>-<name>`` and a
``<that name>.reason.json`` beside it says what was wrong (code, message), the file's
digest and size, and when. Nothing that was sent is ever lost.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hokusai_assets.lib.commitments.digests import bytes_digest, file_digest
from hokusai_assets.lib.files import atomic_write_bytes, safe_file_name

REASON_SUFFIX = ".reason.json"


@dataclass(frozen=True)
class Quarantined:
    path: Path
    reason_path: Path
    code: str
    message: str


def _destination(quarantine: Path, name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return quarantine / f"{stamp}-{safe_file_name(name)}"


def _write_reason(target: Path, code: str, message: str, digest: str | None, size: int | None, original: str, extra: dict) -> Path:
    reason = {
        "code": code,
        "message": message,
        "file_digest": digest,
        "size_bytes": size,
        "original_name": original,
        "quarantined_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
    reason_path = target.with_name(target.name + REASON_SUFFIX)
    atomic_write_bytes(reason_path, (json.dumps(reason, indent=2, sort_keys=True) + "\n").encode())
    return reason_path


def quarantine_file(source: Path, quarantine: Path, code: str, message: str, **extra: object) -> Quarantined:
    """Move ``source`` (a file or a symlink, which is moved as a link) into quarantine."""
    quarantine.mkdir(parents=True, exist_ok=True)
    target = _destination(quarantine, source.name)
    is_regular = source.is_file() and not source.is_symlink()
    digest = file_digest(source) if is_regular else None
    size = source.stat().st_size if is_regular else None
    os.replace(source, target)  # a rename: the bytes are not touched
    reason_path = _write_reason(target, code, message, digest, size, source.name, dict(extra))
    return Quarantined(target, reason_path, code, message)


def quarantine_bytes(data: bytes, name: str, quarantine: Path, code: str, message: str, **extra: object) -> Quarantined:
    """Write a copy of ``data`` (e.g. a stored contribution that failed validation) into quarantine."""
    target = _destination(quarantine, name)
    atomic_write_bytes(target, data, mode=0o600)
    reason_path = _write_reason(target, code, message, bytes_digest(data), len(data), name, dict(extra))
    return Quarantined(target, reason_path, code, message)


def list_quarantine(quarantine: Path) -> list[dict]:
    """Every reason on record, oldest first."""
    if not quarantine.is_dir():
        return []
    reasons = sorted(quarantine.glob(f"*{REASON_SUFFIX}"))
    return [json.loads(p.read_text()) | {"file": p.name[: -len(REASON_SUFFIX)]} for p in reasons]
