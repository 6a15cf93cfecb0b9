"""Start, review and stop experiments: what ``hokusai ab``, the Python API, ``hokusai serve``
and the Dagster asset all call.

``review`` is the one place a decision is made and acted on: it reads the store, runs the
sequential test and the sample-ratio check, applies the guardrails, keeps a snapshot, and,
when the experiment allows it, rolls back or promotes. Several reviewers may run at once
(every server process, the Dagster sensor); the store's conditional stop lets exactly one of
them act, and every change of decision is appended to the audit log with who made it.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.experiments.assignment import ARM_A, ARM_B, assign
from hokusai_assets.lib.experiments.decisions import (
    AUTOMATIC_ROLLBACK_REASON,
    PROMOTE,
    ROLLBACK,
    Decision,
    automatic_action,
    decide,
)
from hokusai_assets.lib.experiments.outcomes import OutcomeEvent
from hokusai_assets.lib.experiments.spec import Arm, ExperimentError, ExperimentSpec, Guardrail, parse_split
from hokusai_assets.lib.experiments.statistics import msprt, running_p_value, sample_ratio_mismatch
from hokusai_assets.lib.registry.promotion import CHAMPION, audit_record, require_who_and_why
from hokusai_assets.services.audit_log import append_audit, utc_now
from hokusai_assets.services.experiments.store import ExperimentStore, StoredExperiment
from hokusai_assets.settings.load import Settings

# Every server reviews every few seconds; the effect-over-time plot needs a point a minute
# (and one at every change of decision), not one per review per server.
SNAPSHOT_EVERY_SECONDS = 60.0

logger = logging.getLogger(__name__)


def _seconds_since(stamp: str) -> float:
    return (datetime.now(timezone.utc) - datetime.fromisoformat(stamp)).total_seconds()


def open_store(settings: Settings, environ: Mapping[str, str] | None = None) -> ExperimentStore:
    return ExperimentStore.open(settings.layout, os.environ if environ is None else environ)


def _audit(
    settings: Settings, experiment: StoredExperiment, action: str, outcome: str, actor: str, reason: str, **details
):
    return append_audit(
        settings.layout.registry_audit_log,
        audit_record(
            f"experiment:{action}",
            outcome,
            experiment.spec.model,
            actor,
            reason,
            utc_now(),
            experiment=experiment.id,
            experiment_name=experiment.spec.name,
            **details,
        ),
    )


def _pin(settings: Settings, reference: str, side: str) -> Arm:
    """An arm's reference (alias or version number) resolved to a version whose attestation verifies."""
    from hokusai_assets.services.model_registry import attestation_status
    from hokusai_assets.services.serving.catalogue import ModelCatalogue

    catalogue = ModelCatalogue(settings)
    catalogue.refresh()
    try:
        resolved = catalogue.resolve(version=reference) if reference.isdigit() else catalogue.resolve(alias=reference)
    except HokusaiError as error:
        raise ExperimentError(f"--{side} {reference[:40]}: {error.message}", code="E_AB_ARM") from None
    status = attestation_status(settings, resolved.partition, resolved.model_digest)
    if not status.verified:
        raise ExperimentError(
            f"--{side} {reference} is version {resolved.version}, whose attestation does not check out "
            f"({status.detail}); an experiment only serves attested models",
            code="E_AB_ARM",
        )
    return Arm(reference, resolved.version, resolved.model_digest, resolved.partition)


def start_experiment(
    settings: Settings,
    name: str,
    *,
    a: str,
    b: str,
    split: str,
    metric: str,
    kind: str,
    actor: str,
    shadow: bool = False,
    guardrails: tuple[str, ...] = (),
    min_units: int = 100,
    guardrail_min_requests: int = 100,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    auto_promote: bool = False,
    auto_rollback: bool = False,
    environ: Mapping[str, str] | None = None,
) -> StoredExperiment:
    require_who_and_why("starting an experiment", actor, name)
    a_bps, _ = parse_split(split)
    parsed_guardrails = tuple(Guardrail.parse(text) for text in guardrails)
    spec = ExperimentSpec(
        id=f"ab-{secrets.token_hex(5)}",
        name=name,
        model=settings.config.registered_model_name,
        a=_pin(settings, a, "a"),
        b=_pin(settings, b, "b"),
        a_bps=a_bps,
        metric=metric,
        kind=kind,
        shadow=shadow,
        higher_is_better=higher_is_better,
        guardrails=parsed_guardrails,
        min_units=min_units,
        guardrail_min_requests=guardrail_min_requests,
        alpha=alpha,
        auto_promote=auto_promote,
        auto_rollback=auto_rollback,
    )
    store = open_store(settings, environ)
    experiment = store.create(spec, secrets.token_bytes(32), actor)
    _audit(settings, experiment, "start", "started", actor, f"A/B experiment {name}", spec=spec.as_dict())
    return experiment


def stop_experiment(
    settings: Settings, id_or_name: str, *, actor: str, reason: str, environ: Mapping[str, str] | None = None
) -> StoredExperiment:
    require_who_and_why("stopping an experiment", actor, reason)
    store = open_store(settings, environ)
    experiment = store.get(id_or_name)
    if not store.stop(experiment.id, f"stopped by {actor}: {reason}"):
        raise ExperimentError(
            f"experiment {experiment.id} is not running ({experiment.stop_reason or experiment.status})",
            code="E_AB_NOT_RUNNING",
        )
    _audit(settings, experiment, "stop", "stopped", actor, reason)
    return store.get(experiment.id)


def analyse(store: ExperimentStore, experiment: StoredExperiment) -> dict[str, Any]:
    """The experiment's numbers now: per-arm table, the sequential test, the sample-ratio check,
    the guardrail values and the decision they add up to. Reads only."""
    return _analyse(store, experiment)[0]


def _analyse(store: ExperimentStore, experiment: StoredExperiment) -> tuple[dict[str, Any], Decision]:
    spec = experiment.spec
    exposed = store.exposure_counts(experiment.id)
    summaries = store.arm_summaries(experiment.id, spec.kind)
    traffic = store.traffic(experiment.id)
    result = msprt(summaries[ARM_A], summaries[ARM_B], alpha=spec.alpha, binary=spec.kind == "binary")
    shares = (spec.a_bps / 10_000, spec.b_bps / 10_000)
    observed = (exposed[ARM_A], exposed[ARM_B])
    srm_statistic, srm_p = sample_ratio_mismatch(observed, shares) if sum(observed) else (0.0, 1.0)
    b_traffic = traffic[ARM_B]
    guardrail_values = b_traffic.guardrail_values()
    decision = decide(spec, result, srm_p, guardrail_values, b_traffic.requests)
    last = store.last_snapshot(experiment.id)
    arms = []
    for arm, reference in ((ARM_A, spec.a), (ARM_B, spec.b)):
        arm_traffic = traffic[arm]
        arms.append(
            {
                "arm": arm,
                "reference": reference.reference,
                "version": reference.version,
                "model_digest": reference.model_digest,
                "share": (spec.a_bps if arm == ARM_A else spec.b_bps) / 100,
                "exposed_units": exposed[arm],
                "units_analysed": summaries[arm].n,
                "mean": summaries[arm].mean if summaries[arm].n else None,
                "requests": arm_traffic.requests,
                "anonymous_requests": arm_traffic.anonymous,
                "errors": arm_traffic.errors,
                **arm_traffic.guardrail_values(),
                "shadow_rows": arm_traffic.shadow_rows,
                "shadow_agreement": (
                    arm_traffic.shadow_agreed / arm_traffic.shadow_rows if arm_traffic.shadow_rows else None
                ),
            }
        )
    test = result.as_dict()
    test["p_value_running"] = running_p_value(last["test"].get("p_value_running") if last else None, result.p_value)
    return {
        "experiment": experiment.summary(),
        "arms": arms,
        "outcomes": store.outcome_count(experiment.id),
        "test": test,
        "sample_ratio": {
            "statistic": srm_statistic,
            "p_value": srm_p,
            "observed": list(observed),
            "expected_shares": list(shares),
        },
        "guardrails": {
            "values_of_b": guardrail_values,
            "b_requests": b_traffic.requests,
            "rules": [str(g) for g in spec.guardrails],
        },
        "decision": decision.as_dict(),
    }, decision


def status(
    settings: Settings, id_or_name: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``hokusai ab status``: the named experiment, or the model's running one (else its latest)."""
    store = open_store(settings, environ)
    if id_or_name:
        experiment = store.get(id_or_name)
    else:
        model = settings.config.registered_model_name
        experiment = store.running(model) or next(iter(store.list(model)), None)
        if experiment is None:
            raise ExperimentError(
                f"{model} has no experiments yet; start one with hokusai ab start", code="E_AB_UNKNOWN"
            )
    return analyse(store, experiment)


def review(settings: Settings, store: ExperimentStore, experiment_id: str, actor: str) -> dict[str, Any]:
    """Analyse a running experiment, keep a snapshot, audit a new decision, and act on it when allowed."""
    experiment = store.get(experiment_id)
    analysis, decided = _analyse(store, experiment)
    if not experiment.running:
        return analysis
    decision = analysis["decision"]
    previous = (experiment.decision or {}).get("outcome")
    last = store.last_snapshot(experiment.id)
    if previous != decision["outcome"] or last is None or _seconds_since(last["at"]) >= SNAPSHOT_EVERY_SECONDS:
        kept = ("arms", "test", "sample_ratio", "guardrails", "decision")
        store.add_snapshot(experiment.id, {k: analysis[k] for k in kept})
    numbers = {"test": analysis["test"], "sample_ratio": analysis["sample_ratio"], "arms": analysis["arms"]}
    # Of several reviewers seeing the same change, the one that records it audits it.
    if previous != decision["outcome"] and store.change_decision(experiment.id, decision, previous):
        _audit(settings, experiment, "decision", decision["outcome"], actor, decision["detail"], **numbers)
    spec = experiment.spec
    action = automatic_action(spec, decided)
    if action == ROLLBACK and store.stop(experiment.id, f"{AUTOMATIC_ROLLBACK_REASON}: {decision['detail']}"):
        _audit(
            settings,
            experiment,
            "rollback",
            "rolled_back",
            actor,
            f"guardrail breach: {'; '.join(decided.breaches)}; B (version {spec.b.version}) no longer served, "
            "every request goes to the alias it names again (the champion by default)",
            **numbers,
        )
    elif action == PROMOTE and store.stop(experiment.id, f"B better: {decision['detail']}"):
        outcome = _promote_b(settings, experiment, decision, actor, numbers)
        store.set_decision(experiment.id, {**decision, "promotion": outcome})
    return analysis


def _promote_b(
    settings: Settings, experiment: StoredExperiment, decision: dict[str, Any], actor: str, numbers: dict[str, Any]
) -> str:
    """Promote B through the registry's gate; what happened, for the experiment's record.

    Never raises: the experiment is already stopped, and a reviewer (a server's thread, the
    sensor) must go on. A refusal is audited by the registry itself."""
    from hokusai_assets.services.model_registry import promote_version

    spec = experiment.spec
    try:
        promote_version(
            settings,
            spec.b.version,
            actor=actor,
            approved=False,
            context={"experiment": {"id": experiment.id, "name": spec.name, "metric": spec.metric, **numbers}},
            reason=f"experiment {experiment.id} ({spec.name}): {decision['detail']}",
            # B was measured against the champion of the start; if a person has promoted
            # another version since, that newer decision is not overruled.
            expected_champion=spec.a.version if spec.a.reference == CHAMPION else None,
        )
    except HokusaiError as error:
        # Refused by the gate (its attestation no longer verifies, approval required, the
        # champion moved on): the registry's audit line says so too.
        return f"refused: {error.message}"
    except Exception as error:  # noqa: BLE001 - the registry unreachable, a broken store: recorded, not raised
        logger.exception("automatic promotion of experiment %s failed", experiment.id)
        return f"failed: {type(error).__name__}: {str(error)[:300]}"
    return f"version {spec.b.version} is champion"


def record_outcomes(store: ExperimentStore, experiment: StoredExperiment, events: list[OutcomeEvent]) -> list[str]:
    """Store outcomes of a running experiment, each under its unit's keyed pseudonym and arm."""
    if not experiment.running:
        raise ExperimentError(
            f"experiment {experiment.id} is stopped ({experiment.stop_reason}); its numbers are final",
            code="E_AB_NOT_RUNNING",
        )
    rows = []
    for event in events:
        arm, key = assign(experiment.salt, event.unit_id, experiment.spec.a_bps)
        rows.append({"event_id": event.event_id, "unit_key": key, "arm": arm, "value": event.value})
    return store.record_outcomes(experiment.id, rows)
