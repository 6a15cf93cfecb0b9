import dagster as dg
import pytest

from hokusai_assets.definitions import build_definitions, defs
from hokusai_assets.defs.jobs import CONTRIBUTION_ASSETS, REFERENCE_ASSETS

# The asset names of shared/DESIGN.md.
DESIGN_ASSETS = {
    "drift_report",
    "contributed_dataset",
    "validated_contribution",
    "integrated_training_set",
    "improved_model",
    "improved_metrics",
    "delta_result",
    "attestation",
    "baseline_training_set",
    "benchmark_dataset",
    "baseline_model",
    "baseline_metrics",
}
# Issue 5 adds the contribution's MLflow run after its attestation.
TRACKING_ASSETS = {"mlflow_run"}


def test_code_location_loads_and_validates(monkeypatch, tmp_path):
    monkeypatch.setenv("HOKUSAI_HOME", str(tmp_path))
    monkeypatch.delenv("HOKUSAI_CONFIG_PATH", raising=False)
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    assert {key.to_user_string() for key in loaded.resolve_all_asset_keys()} == DESIGN_ASSETS | TRACKING_ASSETS


def test_broken_config_fails_the_load_with_our_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HOKUSAI_CONFIG_PATH", str(tmp_path / "missing.yaml"))
    with pytest.raises(Exception, match="E_CONFIG_MISSING"):
        defs()


def test_jobs_select_the_reference_and_one_contribution_chain(mock_settings):
    built = build_definitions(mock_settings)
    graph = built.resolve_asset_graph()
    evaluate = built.resolve_job_def("evaluate_contribution")
    assert evaluate.partitions_def == dg.DynamicPartitionsDefinition(name="contributions")
    for name in CONTRIBUTION_ASSETS:
        assert graph.get(dg.AssetKey(name)).partitions_def is not None, name
    for name in REFERENCE_ASSETS:
        assert graph.get(dg.AssetKey(name)).partitions_def is None, name


def test_lineage_follows_the_design(mock_settings):
    graph = build_definitions(mock_settings).resolve_asset_graph()

    def parents(name):
        return {key.to_user_string() for key in graph.get(dg.AssetKey(name)).parent_keys}

    assert "contributed_dataset" in parents("validated_contribution")
    assert {"baseline_training_set", "validated_contribution"} <= parents("integrated_training_set")
    assert parents("improved_model") == {"integrated_training_set"}
    assert {"improved_model", "benchmark_dataset"} <= parents("improved_metrics")
    assert {"baseline_metrics", "improved_metrics"} <= parents("delta_result")
    assert "delta_result" in parents("attestation")
