"""The model registry in MLflow: promote, roll back and list versions, every attempt audited.

The rules (who may be champion, what a rollback restores) are ``lib/registry/promotion.py``;
this module applies them with aliases and model-version tags, and appends one JSON line
per attempt, refusals and failures included, to the append-only audit log.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hokusai_assets.lib.registry.promotion import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    PromotionEvidence,
    RegistryError,
    audit_record,
    check_environment_alias,
    previous_after_rollback,
    promotion_refusals,
    require_who_and_why,
    versions_by_alias,
)
from hokusai_assets.services.audit_log import append_audit, utc_now
from hokusai_assets.services.tracking.store import tracking_client
from hokusai_assets.services.tracking.tags import (
    TAG_ACCEPTED,
    TAG_DELTA_ONE_BPS,
    TAG_DEMOTED_AT,
    TAG_DEMOTED_BY,
    TAG_DEMOTION_REASON,
    TAG_MODEL_DIGEST,
    TAG_PARTITION,
    TAG_PREVIOUS_CHAMPION,
    TAG_PROMOTED_AT,
    TAG_PROMOTED_BY,
    TAG_PROMOTION_REASON,
)


@dataclass(frozen=True)
class PromotionResult:
    """What a promote or rollback did; ``audit`` is the line appended to the audit log."""

    action: str  # "promote" | "rollback"
    model_name: str
    from_version: str | None  # champion before
    to_version: str  # champion after
    previous_champion: str | None  # the previous-champion alias after
    changed: bool
    audit: dict = field(default_factory=dict)


class _AuditTrail:
    """One attempt's audit: whatever its outcome, one JSON line, appended and fsynced."""

    def __init__(self, log: Path, action: str, model_name: str, actor: str, reason: str, **common: Any) -> None:
        self.log = Path(log)
        self.action, self.model_name, self.actor, self.reason = action, model_name, actor, reason
        self.common = common

    def record(self, outcome: str, **details: Any) -> dict[str, Any]:
        entry = audit_record(
            self.action, outcome, self.model_name, self.actor, self.reason, utc_now(), **self.common, **details
        )
        return append_audit(self.log, entry)

    def failed(self, exc: MlflowException, message: str) -> RegistryError:
        """Record an MLflow failure and return the error to raise."""
        self.record("failed", error=exc.message)
        return RegistryError(f"{message}: {exc.message}", code="E_REGISTRY_FAILED")


@contextmanager
def _mlflow_errors_as_ours(missing: str, missing_code: str, failed: str) -> Iterator[None]:
    """MLflow's errors as ours: a missing model or version says what to do, anything else why it failed."""
    try:
        yield
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(missing, code=missing_code) from exc
        raise RegistryError(f"{failed}: {exc.message}", code="E_REGISTRY_FAILED") from exc


def _aliases(client: MlflowClient, model_name: str) -> dict[str, str]:
    """alias -> version of a registered model; E_REGISTRY_NO_MODEL if there is no such model."""
    with _mlflow_errors_as_ours(
        f"no registered model named {model_name!r}; a contribution run registers it (check task.name)",
        "E_REGISTRY_NO_MODEL",
        f"cannot read model {model_name!r} from the registry",
    ):
        registered = client.get_registered_model(model_name)
    return {alias: str(version) for alias, version in (registered.aliases or {}).items()}


def _get_version(client: MlflowClient, model_name: str, version: str | int) -> Any:
    with _mlflow_errors_as_ours(
        f"model {model_name!r} has no version {version}; `hokusai models list` shows the versions",
        "E_REGISTRY_NO_VERSION",
        f"cannot read {model_name} version {version}",
    ):
        return client.get_model_version(model_name, str(version))


def _set_tags(client: MlflowClient, model_name: str, version: str, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)


def version_tags(tracking_uri: str, model_name: str, version: str | int) -> dict[str, str]:
    """The tags of one registered version (E_REGISTRY_NO_VERSION if there is none)."""
    return dict(_get_version(tracking_client(tracking_uri), model_name, version).tags or {})


def promote(
    tracking_uri: str,
    model_name: str,
    version: str | int,
    *,
    actor: str,
    reason: str,
    evidence: PromotionEvidence,
    audit_log: Path,
    context: Mapping[str, Any] | None = None,
    expected_champion: str | None = None,
) -> PromotionResult:
    """Make ``version`` the champion, if its evidence allows it (``promotion_refusals``).

    ``context`` goes into the audit record as it is (an experiment's id and numbers when the
    experiment promotes its winner). ``expected_champion``, when given, refuses the promotion
    if the champion is another version by now (``E_REGISTRY_CHAMPION_MOVED``): an automatic
    promotion must not overrule a person who promoted something else meanwhile.

    Refused (``E_REGISTRY_REFUSED``, registry untouched, a ``refused`` line in the audit
    log) otherwise. On success the old champion becomes ``previous-champion``, and
    ``challenger`` is dropped if it named this version.
    """
    require_who_and_why("a promotion", actor, reason)
    client = tracking_client(tracking_uri)
    aliases = _aliases(client, model_name)
    target = _get_version(client, model_name, version)
    target_version = str(target.version)
    from_version = aliases.get(CHAMPION)
    audit = _AuditTrail(
        audit_log,
        "promote",
        model_name,
        actor,
        reason,
        from_version=from_version,
        to_version=target_version,
        **evidence.as_dict(),
        **dict(context or {}),
    )

    if expected_champion is not None and from_version != expected_champion:
        audit.record("refused", refusals=[f"the champion is version {from_version}, not {expected_champion}"])
        raise RegistryError(
            f"refusing to promote {model_name} version {target_version}: the champion is now version "
            f"{from_version}, not version {expected_champion} as expected; promote it by hand if it should still win",
            code="E_REGISTRY_CHAMPION_MOVED",
        )
    refusals = promotion_refusals(evidence, target.tags.get(TAG_ACCEPTED))
    if refusals:
        audit.record("refused", refusals=refusals)
        raise RegistryError(
            f"refusing to promote {model_name} version {target_version} to {CHAMPION}: " + "; ".join(refusals),
            code="E_REGISTRY_REFUSED",
        )
    if from_version == target_version:
        record = audit.record("unchanged")
        return PromotionResult(
            "promote", model_name, from_version, target_version, aliases.get(PREVIOUS_CHAMPION), False, record
        )

    at = utc_now()
    try:
        if from_version is not None:
            client.set_registered_model_alias(model_name, PREVIOUS_CHAMPION, from_version)
            demotion = f"replaced by version {target_version}: {reason}"
            demoted = {TAG_DEMOTED_BY: actor, TAG_DEMOTED_AT: at, TAG_DEMOTION_REASON: demotion}
            _set_tags(client, model_name, from_version, demoted)
        client.set_registered_model_alias(model_name, CHAMPION, target_version)
        promoted = {
            TAG_PROMOTED_BY: actor,
            TAG_PROMOTION_REASON: reason,
            TAG_PROMOTED_AT: at,
            TAG_PREVIOUS_CHAMPION: from_version or "",
        }
        _set_tags(client, model_name, target_version, promoted)
        if aliases.get(CHALLENGER) == target_version:
            client.delete_registered_model_alias(model_name, CHALLENGER)
    except MlflowException as exc:
        raise audit.failed(exc, f"promotion of {model_name} version {target_version} failed") from exc
    record = audit.record("promoted")
    return PromotionResult("promote", model_name, from_version, target_version, from_version, True, record)


def rollback(tracking_uri: str, model_name: str, *, actor: str, reason: str, audit_log: Path) -> PromotionResult:
    """Move ``champion`` back to ``previous-champion`` (see ``previous_after_rollback``)."""
    require_who_and_why("a rollback", actor, reason)
    client = tracking_client(tracking_uri)
    aliases = _aliases(client, model_name)
    from_version = aliases.get(CHAMPION)
    to_version = aliases.get(PREVIOUS_CHAMPION)
    audit = _AuditTrail(
        audit_log, "rollback", model_name, actor, reason, from_version=from_version, to_version=to_version
    )
    if to_version is None:
        audit.record("refused", refusals=["no previous champion"])
        raise RegistryError(
            f"{model_name} has no {PREVIOUS_CHAMPION} to roll back to (nothing was promoted over an earlier champion)",
            code="E_REGISTRY_NO_PREVIOUS",
        )
    replaced = _get_version(client, model_name, to_version).tags.get(TAG_PREVIOUS_CHAMPION)
    earlier = previous_after_rollback(to_version, replaced, from_version)
    at = utc_now()
    try:
        client.set_registered_model_alias(model_name, CHAMPION, to_version)
        if earlier is not None:
            client.set_registered_model_alias(model_name, PREVIOUS_CHAMPION, earlier)
        else:
            client.delete_registered_model_alias(model_name, PREVIOUS_CHAMPION)
        restored = {
            TAG_PROMOTED_BY: actor,
            TAG_PROMOTION_REASON: f"rollback from version {from_version}: {reason}",
            TAG_PROMOTED_AT: at,
        }
        _set_tags(client, model_name, to_version, restored)
        if from_version is not None:
            demoted = {TAG_DEMOTED_BY: actor, TAG_DEMOTED_AT: at, TAG_DEMOTION_REASON: f"rolled back: {reason}"}
            _set_tags(client, model_name, from_version, demoted)
    except MlflowException as exc:
        raise audit.failed(exc, f"rollback of {model_name} failed") from exc
    record = audit.record("rolled_back", previous_champion=earlier)
    return PromotionResult("rollback", model_name, from_version, to_version, earlier, True, record)


def assign_alias(
    tracking_uri: str,
    model_name: str,
    version: str | int,
    alias: str,
    *,
    actor: str,
    reason: str,
    evidence: PromotionEvidence,
    audit_log: Path,
) -> PromotionResult:
    """Point an environment alias (``staging``, ``production``, ...) at ``version``, through the
    same gates as a promotion; audited the same way."""
    require_who_and_why(f"setting alias {alias}", actor, reason)
    check_environment_alias(alias)
    client = tracking_client(tracking_uri)
    aliases = _aliases(client, model_name)
    target = str(_get_version(client, model_name, version).version)
    from_version = aliases.get(alias)
    audit = _AuditTrail(
        audit_log, f"assign:{alias}", model_name, actor, reason, from_version=from_version, to_version=target,
        **evidence.as_dict(),
    )
    refusals = promotion_refusals(evidence, _get_version(client, model_name, target).tags.get(TAG_ACCEPTED))
    if refusals:
        audit.record("refused", refusals=refusals)
        raise RegistryError(
            f"refusing to point {alias} of {model_name} at version {target}: " + "; ".join(refusals),
            code="E_REGISTRY_REFUSED",
        )
    try:
        client.set_registered_model_alias(model_name, alias, target)
    except MlflowException as exc:
        raise audit.failed(exc, f"setting {alias} of {model_name} to version {target} failed") from exc
    record = audit.record("assigned" if from_version != target else "unchanged")
    return PromotionResult(f"assign:{alias}", model_name, from_version, target, None, from_version != target, record)


def list_versions(tracking_uri: str, model_name: str) -> list[dict]:
    """Every registered version of ``model_name``, newest first, with its aliases and evidence."""
    client = tracking_client(tracking_uri)
    try:
        aliases = versions_by_alias(_aliases(client, model_name))
    except RegistryError as exc:
        if exc.code == "E_REGISTRY_NO_MODEL":
            return []
        raise
    escaped = model_name.replace("'", "\\'")
    rows = []
    for mv in client.search_model_versions(f"name = '{escaped}'"):
        tags = mv.tags or {}
        bps = tags.get(TAG_DELTA_ONE_BPS)
        accepted = tags.get(TAG_ACCEPTED)
        rows.append(
            {
                "version": str(mv.version),
                "aliases": aliases.get(str(mv.version), []),
                "run_id": mv.run_id,
                "partition": tags.get(TAG_PARTITION),
                "delta_one_bps": int(bps) if bps not in (None, "") else None,
                "accepted": None if accepted is None else accepted == "true",
                "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, timezone.utc).isoformat(
                    timespec="seconds"
                ),
                "status": mv.status,
                "model_digest": tags.get(TAG_MODEL_DIGEST),
                "promoted_by": tags.get(TAG_PROMOTED_BY),
                "promotion_reason": tags.get(TAG_PROMOTION_REASON),
            }
        )
    rows.sort(key=lambda row: int(row["version"]), reverse=True)
    return rows
