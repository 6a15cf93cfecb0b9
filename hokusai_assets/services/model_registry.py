"""What ``hokusai models list|promote|rollback`` do: the registry, with its evidence checked here.

A promotion is decided on evidence this module gathers itself, not on the caller's word:
the version's partition (its ``hokusai.partition`` tag) names an attestation under
HOKUSAI_HOME, which must verify against this home's attester keys, attest this very model
(its digest), and record an accepted delta. ``services/tracking/registry.py`` then applies
the rule (``lib/registry/promotion.py``) and writes the audit trail (MLflow tags and the
append-only log), refusals included. MLflow is imported only when a command needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hokusai_assets.lib.attestation.statement import DeltaOnePredicate
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.registry.promotion import CHAMPION, PromotionEvidence
from hokusai_assets.settings.load import Settings


def _uri(settings: Settings) -> str:
    return settings.layout.tracking_uri(os.environ)


def list_models(settings: Settings) -> list[dict[str, Any]]:
    from hokusai_assets.services.tracking import registry

    return registry.list_versions(_uri(settings), settings.config.registered_model_name)


@dataclass(frozen=True)
class AttestationStatus:
    """What the attestation of a registered version says, as checked here."""

    verified: bool
    accepted: bool
    detail: str
    predicate: DeltaOnePredicate | None = None

    def as_evidence(self) -> dict[str, Any]:
        return {"verified": self.verified, "accepted": self.accepted, "detail": self.detail}


def attestation_status(settings: Settings, partition: str | None, model_digest: str | None) -> AttestationStatus:
    """Whether the attestation of ``partition`` verifies, binds ``model_digest``, and was accepted."""
    from hokusai_assets.services.attestations import verify_files
    from hokusai_assets.services.keys import attester_keys

    if not partition:
        return AttestationStatus(False, False, "the version has no hokusai.partition tag")
    files = settings.layout.attestation(partition)
    if not files.exists():
        return AttestationStatus(False, False, f"no attestation at {files.directory}")
    domain = settings.config.attestation.eip712.domain()
    trusted = attester_keys(settings.layout, os.environ).public_info(domain)
    report = verify_files(files, trusted=trusted)
    if not report.ok:
        failure = report.first_failure
        return AttestationStatus(False, False, f"{failure.name}: {failure.detail}")
    predicate = DeltaOnePredicate.from_statement(report.statement)
    attested = predicate.improved.model_digest
    if model_digest != attested:
        return AttestationStatus(False, False, f"the attestation is for model {attested}, the version holds {model_digest}")
    return AttestationStatus(True, bool(predicate.evaluation["accepted"]), "verified", predicate)


def attestation_evidence(settings: Settings, partition: str | None, model_digest: str | None) -> dict[str, Any]:
    return attestation_status(settings, partition, model_digest).as_evidence()


def promote_version(
    settings: Settings,
    version: str,
    *,
    actor: str,
    reason: str,
    approved: bool,
    alias: str = CHAMPION,
    context: dict[str, Any] | None = None,
    expected_champion: str | None = None,
) -> dict[str, Any]:
    """Make ``version`` the champion, or point an environment ``alias`` at it: the same gates.

    ``context`` is added to the promotion's audit record (an experiment's id and numbers);
    ``expected_champion`` refuses it if the champion has become another version meanwhile."""
    from hokusai_assets.services.tracking import registry
    from hokusai_assets.services.tracking.tags import TAG_MODEL_DIGEST, TAG_PARTITION

    uri = _uri(settings)
    model_name = settings.config.registered_model_name
    tags = registry.version_tags(uri, model_name, version)
    evidence = attestation_evidence(settings, tags.get(TAG_PARTITION), tags.get(TAG_MODEL_DIGEST))
    gates = PromotionEvidence(
        attestation_verified=evidence["verified"],
        delta_accepted=evidence["accepted"],
        require_approval=settings.config.tracking.require_approval,
        approved=approved,
    )
    common = dict(actor=actor, reason=reason, evidence=gates, audit_log=settings.layout.registry_audit_log)
    try:
        if alias == CHAMPION:
            result = registry.promote(
                uri, model_name, version, context=context, expected_champion=expected_champion, **common
            )
        else:
            result = registry.assign_alias(uri, model_name, version, alias, **common)
    except HokusaiError as exc:
        if not evidence["verified"]:
            raise type(exc)(f"{exc.message} ({evidence['detail']})", code=exc.code) from exc
        raise
    return result.audit


def rollback_champion(settings: Settings, *, actor: str, reason: str) -> dict[str, Any]:
    from hokusai_assets.services.tracking import registry

    result = registry.rollback(
        _uri(settings),
        settings.config.registered_model_name,
        actor=actor,
        reason=reason,
        audit_log=settings.layout.registry_audit_log,
    )
    return result.audit
