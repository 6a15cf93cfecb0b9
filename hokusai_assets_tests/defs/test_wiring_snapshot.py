"""A snapshot of the wiring: every asset and check spec, so that a wiring change shows in review.

When the change is meant, refresh the snapshot with `pytest --snapshot-update` on this file
and commit the .ambr beside it; the diff of that file is the change to the graph.
"""

import dagster as dg

from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets.defs.jobs import AB_EXPERIMENT_ASSETS, CONTRIBUTION_ASSETS, REFERENCE_ASSETS, REWARD_ASSETS
from hokusai_assets_tests.defs.test_definitions import OVERVIEW_ASSETS

KIND_TAG = "dagster/kind/"


def _retry(policy) -> dict | None:
    if policy is None:
        return None
    return {"max_retries": policy.max_retries, "delay": policy.delay, "backoff": policy.backoff.value}


def _targets(sensor, graph) -> list[str]:
    if isinstance(sensor, dg.AutomationConditionSensorDefinition):  # targets assets, not jobs
        return sorted(key.to_user_string() for key in sensor.asset_selection.resolve(graph))
    if not sensor.has_jobs:  # the alert sensors request no runs
        return []
    return sorted(job.name for job in sensor.jobs)


def wiring(definitions) -> dict:
    assets, checks = {}, {}
    for assets_def in definitions.assets:
        for spec in assets_def.specs:
            assets[spec.key.to_user_string()] = {
                "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
                "partitions": getattr(spec.partitions_def, "name", None),
                "group": spec.group_name,
                "kinds": sorted(tag.removeprefix(KIND_TAG) for tag in spec.tags if tag.startswith(KIND_TAG)),
                "pool": assets_def.op.pool,
                "retry_policy": _retry(assets_def.op.retry_policy),
                "io_manager": assets_def.get_io_manager_key_for_asset_key(spec.key),
                "automation": spec.automation_condition.get_label() if spec.automation_condition else None,
                # The value is the reference fingerprint, which moves with every code change.
                "versioned": spec.code_version is not None,
            }
        for check in assets_def.check_specs:
            checks[f"{check.asset_key.to_user_string()}:{check.name}"] = {
                "blocking": check.blocking,
                "partitions": getattr(check.partitions_def, "name", None),
                "description": check.description,
            }
    jobs = {
        job.name: sorted(key.to_user_string() for key in job.asset_layer.executable_asset_keys)
        for job in definitions.resolve_all_job_defs()
        if not job.name.startswith("__")  # Dagster's implicit asset job
    }
    graph = definitions.resolve_asset_graph()
    sensors = {sensor.name: _targets(sensor, graph) for sensor in definitions.sensors}
    return {"assets": dict(sorted(assets.items())), "checks": dict(sorted(checks.items())), "jobs": jobs, "sensors": sensors}


def test_every_asset_and_check_spec_is_as_reviewed(mock_settings, snapshot):
    definitions = build_definitions(mock_settings)
    current = wiring(definitions)
    assert set(current["assets"]) == (
        set(REFERENCE_ASSETS) | set(CONTRIBUTION_ASSETS) | OVERVIEW_ASSETS | set(REWARD_ASSETS) | set(AB_EXPERIMENT_ASSETS)
    )
    assert current == snapshot
