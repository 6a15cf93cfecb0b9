"""Contributions that follow one another: rows a first contribution gave earn nothing the second time,
through the leaf index of accepted contributions; and a task that tracks nothing in MLflow."""

import json

import dagster as dg
import pandas as pd
import pytest
import yaml

from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets.lib.attestation.statement import DeltaOnePredicate
from hokusai_assets.lib.commitments.merkle import row_leaves
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.services.leaf_index import LeafIndex
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.load import load_settings

from .conftest import run_job

FIRST_ROWS, OVERLAP = 450, 150


@pytest.fixture
def untracked_settings(mock_task, tmp_path):
    config = yaml.safe_load(mock_task.config_path.read_text())
    config["tracking"] = {"enabled": False}
    mock_task.config_path.write_text(yaml.safe_dump(config))
    return load_settings(config_path=mock_task.config_path, home=tmp_path / "home", environ={})


def checks_of(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_rows_of_an_earlier_contribution_are_removed_from_a_later_one(untracked_settings, mock_task, tmp_path):
    settings = untracked_settings
    rows = pd.read_csv(mock_task.contribution_path)
    first_file, second_file = tmp_path / "first.csv", tmp_path / "second.csv"
    rows.iloc[:FIRST_ROWS].to_csv(first_file, index=False)
    rows.iloc[FIRST_ROWS - OVERLAP :].to_csv(second_file, index=False)  # 150 rows again, then 450 new ones
    store = ContributionStore.open(settings.layout, environ={})
    contributor = Contributor(wallet=mock_task.wallet)
    first, _ = store.put(first_file, contributor)
    second, _ = store.put(second_file, contributor)  # arrives later: "earlier" is arrival order

    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("contributions", [first.key, second.key])
        assert run_job(defs, "prepare_baseline", instance).success
        first_run = run_job(defs, "evaluate_contribution", instance, partition_key=first.key)
        second_run = run_job(defs, "evaluate_contribution", instance, partition_key=second.key)
        again = run_job(defs, "evaluate_contribution", instance, partition_key=first.key)
    assert first_run.success and second_run.success and again.success

    duplicates = checks_of(second_run)["duplicate_share"].metadata
    assert duplicates["in_earlier_contributions"].value == OVERLAP
    assert duplicates["within_file"].value == 0 and duplicates["in_baseline"].value == 0
    assert checks_of(second_run)["duplicate_share"].passed  # 25% is under intake.max_duplicate_share
    # Evaluated again later, the first contribution is still judged against what came before it.
    assert checks_of(again)["duplicate_share"].metadata["in_earlier_contributions"].value == 0

    index = LeafIndex(settings.layout.leaf_index_dir)
    assert index.keys() == sorted([first.key, second.key])
    assert len(index.get(first.key)) == FIRST_ROWS and len(index.get(second.key)) == len(rows) - FIRST_ROWS
    assert not index.get(first.key) & index.get(second.key)
    columns = settings.schema.columns
    assert index.get(second.key) == frozenset(row_leaves(rows.iloc[FIRST_ROWS:], columns))

    statement = json.loads(settings.layout.attestation(second.key).statement.read_bytes())
    attested = DeltaOnePredicate.from_statement(statement)
    assert attested.contribution.rows == len(rows) - FIRST_ROWS  # the repeated rows are not attested


def test_with_tracking_off_the_chain_completes_and_nothing_reaches_mlflow(untracked_settings, mock_task):
    settings = untracked_settings
    stored, _ = ContributionStore.open(settings.layout, environ={}).put(
        mock_task.contribution_path, Contributor(wallet=mock_task.wallet)
    )
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("contributions", [stored.key])
        assert run_job(defs, "prepare_baseline", instance).success
        result = run_job(defs, "evaluate_contribution", instance, partition_key=stored.key)
        assert result.success
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("mlflow_run"), asset_partitions=[stored.key]), limit=1
        ).records[0]
    metadata = record.asset_materialization.metadata
    assert metadata["enabled"].value is False and "tracking.enabled" in metadata["reason"].value
    assert settings.layout.attestation(stored.key).exists()
    assert not settings.layout.mlflow_db.parent.exists(), "no MLflow store is created when tracking is off"
