"""The whole graph as one Definitions object, built from validated settings."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from hokusai_assets.defs.ab_sensor import ab_experiment_sensor
from hokusai_assets.defs.alerts import build_alert_sensors
from hokusai_assets.defs.assets import (
    ab_experiments,
    attestation,
    contributions,
    evaluation,
    experiment,
    models,
    monitoring,
    overview,
    rewards,
    training,
)
from hokusai_assets.defs.jobs import (
    REFERENCE_ASSETS,
    close_reward_epoch,
    evaluate_contribution,
    prepare_baseline,
    refresh_ab_experiment,
    refresh_contributions_overview,
)
from hokusai_assets.defs.reference import REFERENCE_IS_CURRENT
from hokusai_assets.defs.resources import TrackingResource, build_resources
from hokusai_assets.defs.run_recovery import lost_retry_sensor
from hokusai_assets.defs.sensors import (
    build_contribution_sensor,
    contributions_overview_after_failure_sensor,
    contributions_overview_sensor,
    reference_automation_sensor,
)
from hokusai_assets.settings.load import Settings


def build_definitions(
    settings: Settings,
    tracking: TrackingResource | None = None,
    executor: dg.ExecutorDefinition = dg.in_process_executor,
) -> dg.Definitions:
    """``tracking`` overrides where MLflow runs go (the dry run's own store, a warm worker);
    ``executor`` runs the steps of launched runs (defs/executors.py)."""
    assets = dg.load_assets_from_modules(
        [
            contributions,
            training,
            models,
            evaluation,
            monitoring,
            attestation,
            experiment,
            overview,
            rewards,
            ab_experiments,
        ]
    )
    return dg.Definitions(
        assets=dg.map_asset_specs(_reference_expectations(settings), assets),
        jobs=[
            prepare_baseline,
            evaluate_contribution,
            refresh_contributions_overview,
            close_reward_epoch,
            refresh_ab_experiment,
        ],
        schedules=_reward_schedules(settings),
        sensors=[
            build_contribution_sensor(settings),
            contributions_overview_sensor,
            contributions_overview_after_failure_sensor,
            reference_automation_sensor,
            lost_retry_sensor,
            ab_experiment_sensor,
            *build_alert_sensors(settings, (spec for asset in assets for spec in asset.check_specs)),
        ],
        resources=build_resources(config_path=str(settings.config_path), home=str(settings.home), tracking=tracking),
        executor=executor,
    )


def _reward_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    """The daily epoch's schedule, when hokusai.yaml asks for daily epochs."""
    from hokusai_assets.defs.schedules import daily_reward_epoch

    rewards = settings.config.rewards
    return [daily_reward_epoch] if rewards is not None and rewards.epoch == "daily" else []


def _reference_expectations(settings: Settings) -> Callable[[dg.AssetSpec], dg.AssetSpec]:
    """The reference assets' code version is the reference fingerprint (config, reference files, code),
    so the UI marks them unsynced, "code version changed", as soon as any of those changes; and
    their automation condition says what that means."""
    version = settings.reference_fingerprint().removeprefix("sha256:")[:16]

    def with_expectations(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key.to_user_string() not in REFERENCE_ASSETS:
            return spec
        return spec.replace_attributes(code_version=version, automation_condition=REFERENCE_IS_CURRENT)

    return with_expectations
