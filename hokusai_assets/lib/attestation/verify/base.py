"""What every check of the verifier is given, how it says no, and the report it adds to."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hokusai_assets.lib.attestation.statement import DeltaOnePredicate


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class VerificationReport:
    checks: list[Check] = field(default_factory=list)
    # The statement as decoded from the envelope (None when it could not be read); for
    # display only: it is trustworthy only if the report is ok.
    statement: dict | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((check for check in self.checks if not check.ok), None)

    def as_dict(self) -> dict[str, Any]:
        failure = self.first_failure
        return {
            "ok": self.ok,
            "first_failure": failure.name if failure else None,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


class Failed(Exception):
    """A check's verdict: not ok, with the reason."""


def require(condition: bool, detail: str) -> None:
    if not condition:
        raise Failed(detail)


@dataclass(frozen=True)
class UnreadableFile:
    """Stands in for the content of a file the caller could not read as JSON (missing, a
    directory, truncated...): every check that needs it fails with ``detail``, which names
    the file and says what to do. A damaged file is a verdict, never an exception."""

    detail: str


def readable(value: Any) -> Any:
    """``value``, unless it stands for an unreadable file: then the check fails saying why."""
    if isinstance(value, UnreadableFile):
        raise Failed(value.detail)
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Context:
    envelope_bytes: bytes
    eip712: Any
    trusted: Mapping[str, Any] | None
    data_file: Path | None
    model_file: Path | None
    envelope: dict | None = None
    payload: bytes | None = None
    decoded: dict | None = None  # the payload as JSON, well-formed or not
    statement: dict | None = None  # set once statement_format passed
    predicate: DeltaOnePredicate | None = None  # the statement read with its one definition
