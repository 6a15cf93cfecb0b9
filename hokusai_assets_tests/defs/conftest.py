from pathlib import Path

import dagster as dg
import pytest

from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.samples.mock_task import MockTask
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.load import Settings


def run_job(defs: dg.Definitions, name: str, instance: dg.DagsterInstance, partition_key: str | None = None):
    return defs.resolve_job_def(name).execute_in_process(
        instance=instance, partition_key=partition_key, raise_on_error=False
    )


def run_request(defs: dg.Definitions, request: dg.RunRequest, instance: dg.DagsterInstance):
    """Execute what a sensor asked for, as the daemon would: the job, or the subset it selects."""
    job = defs.resolve_job_def(request.job_name)
    if request.asset_selection is not None or request.asset_check_keys is not None:
        job = job.get_subset(
            asset_selection=set(request.asset_selection or []), asset_check_selection=set(request.asset_check_keys or [])
        )
    return job.execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False
    )


@pytest.fixture
def materialised(mock_settings: Settings, mock_task: MockTask):
    """One contribution's whole chain materialised on an ephemeral instance."""
    defs = build_definitions(mock_settings)
    stored, _ = ContributionStore.open(mock_settings.layout).put(mock_task.contribution_path, Contributor(wallet=mock_task.wallet))
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("contributions", [stored.key])
        reference = run_job(defs, "prepare_baseline", instance)
        assert reference.success
        result = run_job(defs, "evaluate_contribution", instance, partition_key=stored.key)
        yield defs, instance, stored, result


def statement_path(settings: Settings, key: str) -> Path:
    return settings.layout.attestations_dir / key / "statement.json"
