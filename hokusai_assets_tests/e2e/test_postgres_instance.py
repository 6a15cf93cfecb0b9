"""deploy/dagster.postgres.yaml: the whole pipeline on a Dagster instance in PostgreSQL.

A throw-away server (e2e/postgres.py) holds the instance; the contribution is evaluated
through the headless runner, as `hokusai evaluate` does, and what Dagster recorded is read
back both through the instance and straight from the server's tables. The attestation
must not depend on where the run history lives: it is compared byte for byte with the
same contribution evaluated on the default SQLite instance.
"""

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from hokusai_assets.defs.assets.models import TRAINING_POOL
from hokusai_assets.entry.runner import Outcome, evaluate_file
from hokusai_assets.lib.attestation.bundle import REPRODUCIBLE_FILES
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.intake.validate import CHECKS
from hokusai_assets.lib.samples.mock_task import MockTask
from hokusai_assets.settings.load import Settings, load_settings
from hokusai_assets_tests.defs.test_definitions import CONTRIBUTION_JOBS
from hokusai_assets_tests.e2e.platform import FIXED_KEYS
from hokusai_assets_tests.e2e.postgres import PostgresServer, running_postgres

pytestmark = [pytest.mark.e2e]

POSTGRES_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.postgres.yaml"
JOBS = CONTRIBUTION_JOBS


@pytest.fixture
def postgres(tmp_path: Path):
    with running_postgres(tmp_path / "postgres") as server:
        yield server


def settings_for(mock_task: MockTask, home: Path) -> Settings:
    return load_settings(config_path=mock_task.config_path, home=home, environ={})


def evaluate(settings: Settings, mock_task: MockTask, instance: dg.DagsterInstance | None) -> Outcome:
    return evaluate_file(settings, mock_task.contribution_path, Contributor(wallet=mock_task.wallet), instance=instance)


def query(server: PostgresServer, sql: str, *params) -> list[tuple]:
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        connection.close()


def test_the_pipeline_runs_on_the_postgres_instance_and_attests_as_on_sqlite(
    postgres: PostgresServer, mock_task: MockTask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for name, value in {**FIXED_KEYS, **postgres.dagster_env()}.items():
        monkeypatch.setenv(name, value)
    on_postgres = settings_for(mock_task, tmp_path / "postgres-home")
    on_postgres.layout.dagster_home.mkdir(parents=True)
    shutil.copyfile(POSTGRES_YAML, on_postgres.layout.dagster_home / "dagster.yaml")

    with dg.DagsterInstance.from_config(str(on_postgres.layout.dagster_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
        outcome = evaluate(on_postgres, mock_task, instance)
        key = outcome.partition
        assert outcome.accepted and not outcome.reused

        runs = {run.job_name: run for run in instance.get_runs()}
        assert set(runs) == JOBS
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs.values())
        contribution_run = runs["evaluate_contribution"]
        assert contribution_run.tags["dagster/partition"] == key

        attestations = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("attestation"), asset_partitions=[key]), limit=10
        ).records
        assert [record.run_id for record in attestations] == [contribution_run.run_id]

        # The checks are partitioned like their asset: each execution names its contribution.
        for check in CHECKS:
            history = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey("validated_contribution"), check), limit=10
            )
            assert [(e.run_id, e.partition, e.status.value) for e in history] == [
                (contribution_run.run_id, key, "SUCCEEDED")
            ], check

        assert instance.get_dynamic_partitions("contributions") == [key]
        # The training pool was created at the yaml's default limit when a training step
        # first claimed it, and every slot was given back when the runs ended.
        pool = instance.event_log_storage.get_concurrency_info(TRAINING_POOL)
        assert pool.slot_count == 1 and pool.claimed_slots == []

    # Nothing fell back to SQLite under the home (steps' stdout/stderr are still files there).
    assert list(on_postgres.layout.dagster_home.rglob("*.db")) == []

    # The same facts, read from the server's tables without Dagster's storage layer.
    assert sorted(query(postgres, "SELECT pipeline_name, status FROM runs")) == sorted(
        (job, "SUCCESS") for job in JOBS
    )
    assert query(
        postgres,
        "SELECT run_id FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
        "AND asset_key = %s AND partition = %s",
        dg.AssetKey("attestation").to_string(), key,
    ) == [(contribution_run.run_id,)]
    assert sorted(
        query(
            postgres,
            "SELECT check_name, partition, execution_status FROM asset_check_executions "
            "WHERE asset_key = %s AND run_id = %s",
            dg.AssetKey("validated_contribution").to_string(), contribution_run.run_id,
        )
    ) == sorted((check, key, "SUCCEEDED") for check in CHECKS)
    assert query(postgres, "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'contributions'") == [
        (key,)
    ]
    assert query(postgres, 'SELECT "limit" FROM concurrency_limits WHERE concurrency_key = %s', TRAINING_POOL) == [(1,)]
    assert query(
        postgres, "SELECT count(*), count(run_id) FROM concurrency_slots WHERE concurrency_key = %s", TRAINING_POOL
    ) == [(1, 0)]

    # The same contribution on the default instance: SQLite under the home.
    on_sqlite = settings_for(mock_task, tmp_path / "sqlite-home")
    sqlite_outcome = evaluate(on_sqlite, mock_task, instance=None)
    assert (on_sqlite.layout.dagster_home / "history" / "runs.db").is_file()
    assert sqlite_outcome.partition == key and sqlite_outcome.statement_digest == outcome.statement_digest
    for name in REPRODUCIBLE_FILES:
        on_postgres_bytes = (on_postgres.layout.attestations_dir / key / name).read_bytes()
        assert on_postgres_bytes == (on_sqlite.layout.attestations_dir / key / name).read_bytes(), name
