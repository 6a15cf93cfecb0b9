"""The rules of the model registry: when a version may become champion, what a rollback restores,
and what the audit trail records. Plain values in and out; ``services/tracking/registry.py``
applies them to MLflow.

Aliases, not stages: ``challenger`` is the latest evaluated version, ``champion`` serves,
``previous-champion`` is what a rollback restores.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from hokusai_assets.lib.errors import HokusaiError

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
# Set only by promote and rollback; other aliases (staging, production, ...) name environments.
LIFECYCLE_ALIASES = frozenset({CHAMPION, CHALLENGER, PREVIOUS_CHAMPION})
ENVIRONMENT_ALIAS = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class RegistryError(HokusaiError):
    """A registry operation was refused or is impossible (E_REGISTRY_REFUSED, ...)."""

    code = "E_REGISTRY"


@dataclass(frozen=True)
class PromotionEvidence:
    """What a promotion is decided on: gathered by the caller from the attestation, not taken on trust."""

    attestation_verified: bool
    delta_accepted: bool
    require_approval: bool = False
    approved: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {name: bool(value) for name, value in asdict(self).items()}


def require_who_and_why(action: str, actor: str, reason: str) -> None:
    """Every registry change names who made it and why, or it does not happen."""
    missing = [name for name, value in (("actor", actor), ("reason", reason)) if not (value or "").strip()]
    if missing:
        raise RegistryError(
            f"{action} needs {' and '.join(missing)} for the audit trail; say who is doing it and why",
            code="E_REGISTRY_REFUSED",
        )


def promotion_refusals(evidence: PromotionEvidence, recorded_accepted: str | None) -> list[str]:
    """Why a version may not become champion (empty: it may).

    ``recorded_accepted`` is the version's own ``hokusai.accepted`` tag, when it has one: a
    version the registry records as rejected is refused even if the caller says otherwise.
    """
    refusals = []
    if not evidence.attestation_verified:
        refusals.append("its attestation has not been verified (run `hokusai verify` on it first)")
    if not evidence.delta_accepted:
        refusals.append("its delta was not accepted")
    elif recorded_accepted == "false":
        refusals.append("the registry records its delta as rejected (tag hokusai.accepted=false)")
    if evidence.require_approval and not evidence.approved:
        refusals.append("this task requires a human approval and none was given")
    return refusals


def previous_after_rollback(restored: str, restored_replaced: str | None, current: str | None) -> str | None:
    """The ``previous-champion`` once ``restored`` is champion again.

    ``restored_replaced`` is the champion ``restored`` had itself replaced (its
    ``hokusai.previous_champion`` tag), so repeated rollbacks walk back through the
    promotion history instead of toggling between two versions.
    """
    if restored_replaced in (None, "", restored, current):
        return None
    return restored_replaced


def audit_record(
    action: str, outcome: str, model_name: str, actor: str, reason: str, at: str, **details: Any
) -> dict[str, Any]:
    """One line of the audit log: who did what to which model, why, when, and with what evidence."""
    return {
        "at": at,
        "action": action,
        "outcome": outcome,
        "model": model_name,
        "actor": actor,
        "reason": reason,
        **details,
    }


def versions_by_alias(aliases: Mapping[str, str]) -> dict[str, list[str]]:
    """alias -> version, turned round: version -> its aliases, sorted."""
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    return {version: sorted(names) for version, names in by_version.items()}


def check_environment_alias(alias: str) -> None:
    """An environment alias is a short lowercase name that is not one of the lifecycle aliases."""
    if alias in LIFECYCLE_ALIASES:
        raise RegistryError(
            f"{alias!r} is set by promote and rollback; name an environment (staging, production, ...)",
            code="E_REGISTRY_ALIAS",
        )
    if not ENVIRONMENT_ALIAS.fullmatch(alias):
        raise RegistryError(
            f"alias {alias[:40]!r} is not valid: lowercase letters, digits and '-', starting with a letter, at most 32",
            code="E_REGISTRY_ALIAS",
        )
