import json

import dagster as dg
import pandas as pd

from hokusai_assets.defs.jobs import CONTRIBUTION_ASSETS
from hokusai_assets.defs.resources import build_resources
from hokusai_assets.defs.types import TaskRows
from hokusai_assets.lib.commitments.digests import file_digest
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.intake.reading import read_conformed

from .conftest import run_job, statement_path


def latest_metadata(instance, asset, partition=None):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0].asset_materialization.metadata


def test_one_partition_materialises_its_whole_chain(materialised, mock_settings):
    _, instance, stored, result = materialised
    assert result.success
    materialised_keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialised_keys == set(CONTRIBUTION_ASSETS)
    assert all(e.partition == stored.key for e in result.get_asset_materialization_events())
    assert latest_metadata(instance, "validated_contribution", stored.key)["dagster/row_count"].value == 900


def test_attestation_commits_to_what_was_actually_used(materialised, mock_settings, mock_task):
    _, instance, stored, _ = materialised
    statement = json.loads(statement_path(mock_settings, stored.key).read_bytes())
    predicate = statement["predicate"]
    schema = mock_settings.schema
    contribution, _ = read_conformed(mock_task.contribution_path, schema, source="contribution")
    assert predicate["contribution"]["data_root"] == data_root(contribution, schema.columns)
    assert predicate["contribution"]["file_digest"] == file_digest(mock_task.contribution_path)
    assert predicate["contribution"]["wallet"] == mock_task.wallet
    # The model digests are those of the files the IO manager stored.
    improved_file = mock_settings.layout.storage_dir / "improved_model" / f"{stored.key}.safetensors"
    assert predicate["improved"]["model_digest"] == file_digest(improved_file)
    assert predicate["baseline"]["model_digest"] == file_digest(mock_settings.layout.storage_dir / "baseline_model.safetensors")
    assert statement["subject"][0]["digest"]["sha256"] == file_digest(improved_file).split(":")[1]
    assert predicate["config_digest"] == mock_settings.config_digest
    # The mock baseline is trained on 60 rows; 900 more rows from the same task help.
    evaluation = predicate["evaluation"]
    assert evaluation["accepted"] and evaluation["delta_one_bps"] > 0
    assert evaluation["metric_deltas"]["accuracy"]["improvement"]


def test_metric_and_delta_assets_carry_readable_metadata(materialised):
    _, instance, stored, _ = materialised
    delta = latest_metadata(instance, "delta_result", stored.key)
    assert "DeltaOne" in delta["summary"].value and "| accuracy ↑ |" in delta["summary"].value
    assert delta["accepted"].value is True
    metrics = latest_metadata(instance, "improved_metrics", stored.key)
    assert "| auroc | overall |" in metrics["metrics"].value
    baseline = latest_metadata(instance, "baseline_metrics")
    assert 0.0 < baseline["metric/accuracy"].value < metrics["metric/accuracy"].value
    model = latest_metadata(instance, "improved_model", stored.key)
    assert model["model_digest"].value.startswith("sha256:") and model["training_rows"].value == 960


def test_bad_contribution_is_stopped_by_a_blocking_check_and_quarantined(mock_settings, mock_task, tmp_path):
    from hokusai_assets.defs.definitions import build_definitions
    from hokusai_assets.lib.intake.contributions import Contributor
    from hokusai_assets.services.quarantine import list_quarantine
    from hokusai_assets.services.store import ContributionStore

    bad = tmp_path / "no_label.csv"
    pd.read_csv(mock_task.contribution_path).drop(columns=["label"]).to_csv(bad, index=False)
    stored, _ = ContributionStore.open(mock_settings.layout).put(bad, Contributor(wallet=mock_task.wallet))
    defs = build_definitions(mock_settings)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("contributions", [stored.key])
        assert run_job(defs, "prepare_baseline", instance).success
        result = run_job(defs, "evaluate_contribution", instance, partition_key=stored.key)
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["schema_valid"].passed
    assert "missing required column(s) 'label'" in evaluations["schema_valid"].description
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialised == {"contributed_dataset", "validated_contribution"}, "nothing past the blocking checks"
    assert not statement_path(mock_settings, stored.key).exists()
    [reason] = list_quarantine(mock_settings.layout.quarantine)
    assert reason["code"] == "E_SCHEMA_MISSING_COLUMN" and reason["partition"] == stored.key
    assert (mock_settings.layout.quarantine / reason["file"]).read_bytes() == bad.read_bytes()


def test_task_rows_type_names_the_offending_column(mock_settings):
    @dg.asset(dagster_type=TaskRows)
    def wrongly_typed():
        frame = pd.DataFrame({name: [0.5, 1.5] for name in mock_settings.schema.feature_names})
        frame["label"] = [None, 1]  # the label must be non-null
        return frame

    resources = build_resources(str(mock_settings.config_path), str(mock_settings.home))
    result = dg.materialize([wrongly_typed], resources={"hokusai": resources["hokusai"]}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert 'expected type "TaskRows"' in message and 'column "label"' in message


def test_attestation_is_signed_and_its_blocking_check_runs_the_verifier(materialised, mock_settings):
    _, _, stored, result = materialised
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["attestation_verified"].passed
    assert all(e.passed for name, e in evaluations.items() if name != "duplicate_share")
    directory = mock_settings.layout.attestations_dir / stored.key
    for name in ("statement.json", "statement.dsse.json", "statement.eip712.json", "attester.json", "receipt.json"):
        assert (directory / name).is_file(), name


def test_drift_report_flags_a_shifted_contribution_and_its_digest_is_attested(mock_settings, mock_task, tmp_path):
    import yaml

    from hokusai_assets.defs.definitions import build_definitions
    from hokusai_assets.lib.intake.contributions import Contributor
    from hokusai_assets.services.store import ContributionStore
    from hokusai_assets.settings.load import load_settings

    config = yaml.safe_load(mock_task.config_path.read_text())
    config["monitoring"] = {"drift_report": True, "drift_share_threshold": 0.3}
    mock_task.config_path.write_text(yaml.safe_dump(config))
    settings = load_settings(config_path=mock_task.config_path, home=tmp_path / "drift-home", environ={})
    shifted = pd.read_csv(mock_task.contribution_path)
    for column in ("f01", "f02", "f03", "f04", "f05", "f06"):
        shifted[column] += 3.0
    path = tmp_path / "shifted.csv"
    shifted.to_csv(path, index=False)
    stored, _ = ContributionStore.open(settings.layout).put(path, Contributor(wallet=mock_task.wallet))
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("contributions", [stored.key])
        assert run_job(defs, "prepare_baseline", instance).success
        result = run_job(defs, "evaluate_contribution", instance, partition_key=stored.key)
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert not evaluations["drift_below_threshold"].passed  # a warning, not a stop
        drift = latest_metadata(instance, "drift_report", stored.key)
    assert drift["drifted_share"].value >= 6 / 13 and (settings.layout.reports_dir / "drift" / f"{stored.key}.html").is_file()
    statement = json.loads(statement_path(settings, stored.key).read_bytes())
    assert statement["predicate"]["contribution"]["drift_digest"] == drift["digest"].value


def test_mlflow_run_metadata_links_back_to_its_mlflow_run(materialised, mock_settings):
    from pathlib import Path

    from mlflow.tracking import MlflowClient

    from hokusai_assets.settings.layout import HomeLayout

    _, instance, stored, result = materialised
    metadata = latest_metadata(instance, "mlflow_run", stored.key)
    run = MlflowClient(HomeLayout(mock_settings.home).tracking_uri({})).get_run(metadata["run_id"].value)
    assert run.data.tags["dagster_run_id"] == result.run_id
    assert run.data.tags["hokusai.partition"] == stored.key
    assert metadata["mlflow_run"].value == (
        f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    )
    assert metadata["model_uri"].value == f"models:/mock_classification/{metadata['model_version'].value}"
    for name in ("confusion_matrices.png", "roc_curves.png"):
        assert Path(metadata[f"plot/{name}"].value).read_bytes().startswith(b"\x89PNG")
    assert "| accuracy ↑ |" in metadata["comparison"].value


def test_promotion_evidence_binds_the_attestation_to_the_model(materialised, mock_settings):
    from hokusai_assets.services.model_registry import attestation_evidence

    _, _, stored, _ = materialised
    model_digest = file_digest(mock_settings.layout.storage_dir / "improved_model" / f"{stored.key}.safetensors")
    assert attestation_evidence(mock_settings, stored.key, model_digest) == {
        "verified": True,
        "accepted": True,
        "detail": "verified",
    }
    other_model = attestation_evidence(mock_settings, stored.key, "sha256:" + "0" * 64)
    assert other_model["verified"] is False and "attestation is for model" in other_model["detail"]
    assert attestation_evidence(mock_settings, "c-0000000000000000", model_digest)["verified"] is False
    envelope = mock_settings.layout.attestations_dir / stored.key / "statement.dsse.json"
    envelope.write_bytes(envelope.read_bytes().replace(b'"sig":"', b'"sig":"AA', 1))
    tampered = attestation_evidence(mock_settings, stored.key, model_digest)
    assert tampered["verified"] is False and tampered["accepted"] is False
