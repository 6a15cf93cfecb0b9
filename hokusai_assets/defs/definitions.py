"""The whole graph as one Definitions object, built from validated settings."""

from __future__ import annotations

import dagster as dg

from hokusai_assets.defs.assets import (
    attestation,
    contributions,
    evaluation,
    experiment,
    models,
    monitoring,
    training,
)
from hokusai_assets.defs.jobs import evaluate_contribution, prepare_baseline
from hokusai_assets.defs.resources import TrackingResource, build_resources
from hokusai_assets.defs.sensors import build_contribution_sensor
from hokusai_assets.settings.load import Settings


def build_definitions(
    settings: Settings,
    tracking: TrackingResource | None = None,
    executor: dg.ExecutorDefinition = dg.in_process_executor,
) -> dg.Definitions:
    """``tracking`` overrides where MLflow runs go (the dry run's own store, a warm worker);
    ``executor`` runs the steps of launched runs (defs/executors.py)."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules(
            [contributions, training, models, evaluation, monitoring, attestation, experiment]
        ),
        jobs=[prepare_baseline, evaluate_contribution],
        sensors=[build_contribution_sensor(settings)],
        resources=build_resources(config_path=str(settings.config_path), home=str(settings.home), tracking=tracking),
        executor=executor,
    )
