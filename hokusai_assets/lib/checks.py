"""The outcome of one data-quality check, as every layer reports it.

The Dagster asset checks, ``hokusai validate``, the quarantine reason and the headless
runner's error line all read the same outcome: whether it passed, whether failing it
stops the contribution (blocking), what was wrong and what to do (description), and
numbers for the UI (metadata; ``code`` is the stable error code of a failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    blocking: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "blocking": self.blocking, "description": self.description, **self.metadata}

    @property
    def code(self) -> str:
        """The stable error code of a failure."""
        return failure_code(self.name, self.metadata.get("code"))


def failure_code(check_name: str, recorded: str | None = None) -> str:
    """The code a failed check reports: the one it recorded, else one named after the check."""
    return recorded or f"E_CHECK_{check_name.upper()}"
