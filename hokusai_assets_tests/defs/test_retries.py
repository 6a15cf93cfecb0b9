"""Step retries: a passing fault outside is retried, our own deliberate refusals are not."""

import dagster as dg
import pandas as pd

from hokusai_assets.defs.assets import training
from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets_tests.defs.conftest import run_job


def _step_events(result, step: str, event_type: str) -> list:
    return [e for e in result.all_events if e.step_key == step and e.event_type_value == event_type]


def test_a_passing_read_error_on_the_reference_data_is_retried(mock_settings, monkeypatch):
    real_load = training.load_reference
    calls = []

    def flaky_load(path, *args, **kwargs):  # the network mount drops once
        calls.append(path)
        if len(calls) == 1:
            raise OSError(5, "Input/output error", str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(training, "load_reference", flaky_load)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_job(build_definitions(mock_settings), "prepare_baseline", instance)

    assert result.success
    failed_step = "baseline_training_set" if calls[0] == mock_settings.baseline_path else "benchmark_dataset"
    assert len(_step_events(result, failed_step, "STEP_UP_FOR_RETRY")) == 1
    assert len(_step_events(result, failed_step, "STEP_SUCCESS")) == 1


def test_a_bad_reference_file_fails_at_once_with_its_code(mock_settings):
    baseline = pd.read_parquet(mock_settings.baseline_path)
    baseline.drop(columns=["label"]).to_parquet(mock_settings.baseline_path, index=False)

    with dg.DagsterInstance.ephemeral() as instance:
        result = run_job(build_definitions(mock_settings), "prepare_baseline", instance)

    assert not result.success
    assert _step_events(result, "baseline_training_set", "STEP_UP_FOR_RETRY") == []
    [failure] = _step_events(result, "baseline_training_set", "STEP_FAILURE")
    assert failure.step_failure_data.user_failure_data.metadata["code"].value.startswith("E_")
    assert "label" in failure.step_failure_data.user_failure_data.description
