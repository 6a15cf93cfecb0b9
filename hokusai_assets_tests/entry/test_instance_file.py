"""The Dagster instance file in HOKUSAI_HOME/dagster: ours is kept current, an operator's is left alone."""

from pathlib import Path

import dagster as dg
import yaml

from hokusai_assets.entry.instance import MANAGED_MARKER, REPO_DAGSTER_YAML, install_instance_file
from hokusai_assets.settings.layout import HomeLayout

POSTGRES_YAML = REPO_DAGSTER_YAML.parent / "deploy" / "dagster.postgres.yaml"


def test_a_new_home_gets_the_repo_instance_file(tmp_path: Path):
    target = install_instance_file(HomeLayout(tmp_path))
    assert target.read_bytes() == REPO_DAGSTER_YAML.read_bytes()


def test_an_outdated_managed_file_is_brought_up_to_date(tmp_path: Path):
    target = tmp_path / "dagster" / "dagster.yaml"
    target.parent.mkdir()
    target.write_bytes(MANAGED_MARKER + b"\ntelemetry:\n  enabled: false\n")
    install_instance_file(HomeLayout(tmp_path))
    assert target.read_bytes() == REPO_DAGSTER_YAML.read_bytes()


def test_an_operators_own_file_is_never_replaced(tmp_path: Path):
    target = tmp_path / "dagster" / "dagster.yaml"
    target.parent.mkdir()
    target.write_bytes(POSTGRES_YAML.read_bytes())
    install_instance_file(HomeLayout(tmp_path))
    assert target.read_bytes() == POSTGRES_YAML.read_bytes()


def test_the_production_settings_load_as_an_instance(tmp_path: Path):
    with dg.DagsterInstance.from_config(str(install_instance_file(HomeLayout(tmp_path)).parent)) as instance:
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.run_monitoring_enabled
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_the_postgres_variant_differs_from_the_repo_file_only_in_storage():
    repo = yaml.safe_load(REPO_DAGSTER_YAML.read_text())
    postgres = yaml.safe_load(POSTGRES_YAML.read_text())
    assert set(postgres.pop("storage")) == {"postgres"}
    assert postgres == repo
    assert not POSTGRES_YAML.read_bytes().startswith(MANAGED_MARKER)
