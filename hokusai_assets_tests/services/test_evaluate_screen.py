"""The intake `hokusai evaluate` runs before storing anything: what it writes, and when it steps aside."""

import pandas as pd
import pytest
import yaml

from hokusai_assets.entry.runner import evaluate_file
from hokusai_assets.lib.commitments.digests import file_digest
from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.intake.contributions import Contributor, partition_key
from hokusai_assets.lib.samples.mock_task import write_mock_task
from hokusai_assets.services.intake import screen_for_evaluation
from hokusai_assets.services.leaf_index import LeafIndex
from hokusai_assets.settings.load import load_settings


@pytest.fixture
def task(tmp_path):
    return write_mock_task(tmp_path / "task")


def test_a_file_over_the_size_limit_is_refused_unread_and_not_copied(task, tmp_path):
    config = yaml.safe_load(task.config_path.read_text())
    config.setdefault("intake", {})["max_file_bytes"] = 1000
    task.config_path.write_text(yaml.safe_dump(config))
    settings = load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
    with pytest.raises(DataFileError) as error:
        evaluate_file(settings, task.contribution_path, Contributor(wallet=task.wallet))
    assert error.value.code == "E_DATA_TOO_LARGE" and "intake.max_file_bytes" in error.value.message
    # Not even a quarantine copy: the limit exists so that such a file is never held whole.
    assert not settings.home.exists()


def test_a_rejected_file_is_quarantined_once_however_often_it_is_evaluated(task, tmp_path):
    settings = load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
    rejected = tmp_path / "benchmark_copy.csv"
    pd.read_parquet(task.config_path.parent / "benchmark.parquet").to_csv(rejected, index=False)
    for _ in range(2):
        with pytest.raises(DataFileError) as error:
            screen_for_evaluation(settings, rejected.read_bytes(), rejected.name)
        assert error.value.code == "E_INTAKE_BENCHMARK_LEAKAGE"
    files = sorted(p.name for p in settings.layout.quarantine.iterdir())
    assert len(files) == 2 and files[1] == files[0] + ".reason.json"
    assert sorted(p.relative_to(settings.home).parts[0] for p in settings.home.rglob("*") if p.is_file()) == [
        "quarantine",
        "quarantine",
    ]


def test_a_file_accepted_at_intake_whose_run_stopped_is_not_screened_again(task, tmp_path):
    # Its own rows are in the leaf index once its intake accepted it; a second screen would
    # call them all duplicates and quarantine a good file. The retried run checks it instead.
    settings = load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
    data = task.contribution_path.read_bytes()
    assert screen_for_evaluation(settings, data, task.contribution_path.name).accepted
    key = partition_key(file_digest(task.contribution_path))
    LeafIndex(settings.layout.leaf_index_dir).put(key, [b"\x01" * 32])
    assert screen_for_evaluation(settings, data, task.contribution_path.name) is None
    assert not settings.layout.quarantine.exists()
