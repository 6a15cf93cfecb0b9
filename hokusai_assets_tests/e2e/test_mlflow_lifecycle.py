"""MLflow after real runs of the CLI: the dry run's tracked run, then the registry's lifecycle.

Everything is read back through ``MlflowClient`` from the store the runs wrote, as a user
of the MLflow UI or API would see it.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from hokusai_assets.lib.samples.mock_task import (
    BASELINE_ROWS,
    BENCHMARK_ROWS,
    CONTRIBUTION_ROWS,
    generate_rows,
    mock_wallet,
)
from hokusai_assets.settings.layout import HomeLayout

from .conftest import hokusai

# One worker builds the module's fixture once (pytest -n 2 --dist loadgroup).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("mlflow_lifecycle")]

MODEL_NAME = "mock_classification"  # the mock task's name: experiment and registered model


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("mlflow-e2e")
    done = hokusai("run", "--dry-run", home=home)
    assert done.returncode == 0, done.stderr
    dry_home = HomeLayout(home).dry_run().home
    return {
        "home": dry_home,
        "config": dry_home / "task" / "hokusai.yaml",
        "outcome": json.loads(done.stdout),
        "client": MlflowClient(HomeLayout(dry_home).tracking_uri({})),
    }


def _only_run(client: MlflowClient):
    experiment = client.get_experiment_by_name(MODEL_NAME)
    assert experiment is not None, "the dry run creates the task's experiment"
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return runs[0]


def test_dry_run_logs_one_finished_run_with_params_metrics_and_tags(dry_run):
    run = _only_run(dry_run["client"])
    outcome = dry_run["outcome"]
    statement = json.loads(Path(outcome["attestation"]).with_name("statement.json").read_bytes())
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["contribution_key"] == outcome["partition"]
    assert params["wallet"] == mock_wallet()
    assert params["config_digest"] == statement["predicate"]["config_digest"]
    assert params["seed"] == "0" and params["framework"] == "sklearn" and params["model"] == "logistic_regression"
    metrics = run.data.metrics
    # The numbers MLflow holds are the attested ones, not a second computation.
    evaluation = statement["predicate"]["evaluation"]
    assert metrics["delta_one_score"] == evaluation["delta_one_score"]
    assert metrics["delta_one_bps"] == evaluation["delta_one_bps"]
    for metric, entry in evaluation["metric_deltas"].items():
        assert metrics[f"baseline.{metric}"] == entry["baseline_value"]
        assert metrics[f"improved.{metric}"] == entry["new_value"]
        assert metrics[f"delta.{metric}"] == entry["absolute_delta"]
    assert metrics["accepted"] == 1.0
    receipt = json.loads(Path(outcome["attestation"]).with_name("receipt.json").read_bytes())
    assert run.data.tags["dagster_run_id"] == receipt["dagster_run_id"]
    assert run.data.tags["hokusai.partition"] == outcome["partition"]


def test_dry_run_logs_the_delta_attestation_plots_and_models_as_artifacts(dry_run):
    client = dry_run["client"]
    run = _only_run(client)

    def names(path=None):
        return {item.path for item in client.list_artifacts(run.info.run_id, path)}

    assert {"attestation", "comparison", "delta", "models"} <= names()
    assert "attestation/statement.dsse.json" in names("attestation")
    assert names("comparison") == {
        "comparison/confusion_matrices.png",
        "comparison/roc_curves.png",
        "comparison/metrics_comparison.md",
    }
    plot = Path(client.download_artifacts(run.info.run_id, "comparison/roc_curves.png", str(dry_run["home"] / "dl")))
    assert plot.read_bytes().startswith(b"\x89PNG")
    local = dry_run["home"] / "reports" / "comparison" / dry_run["outcome"]["partition"] / "roc_curves.png"
    assert plot.read_bytes() == local.read_bytes()
    delta = client.download_artifacts(run.info.run_id, "delta/delta_result.json", str(dry_run["home"] / "dl"))
    assert json.loads(Path(delta).read_text())["delta_one_bps"] == dry_run["outcome"]["delta_one_bps"]


def test_improved_model_is_registered_as_challenger_with_signature_and_example(dry_run, monkeypatch):
    import mlflow

    # get_model_info resolves a models:/ URI through MLflow's global tracking URI.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", HomeLayout(dry_run["home"]).tracking_uri({}))
    client = dry_run["client"]
    run = _only_run(client)
    assert _aliases(dry_run) == {"challenger": "1"}
    version = client.get_model_version(MODEL_NAME, "1")
    assert version.run_id == run.info.run_id
    assert version.tags["hokusai.accepted"] == "true"
    assert version.tags["hokusai.delta_one_bps"] == str(dry_run["outcome"]["delta_one_bps"])
    info = mlflow.models.get_model_info(version.source)
    assert [c["name"] for c in info.signature.inputs.to_dict()] == [f"f{i:02d}" for i in range(1, 13)]
    assert info.saved_input_example_info is not None


def _write_contribution(path: Path, *, shuffle_labels: bool) -> Path:
    """Fresh rows of the mock task (same class centres), optionally with useless labels."""
    used = BASELINE_ROWS + BENCHMARK_ROWS + CONTRIBUTION_ROWS
    rows = generate_rows("classification", used + CONTRIBUTION_ROWS, 0).iloc[used:].reset_index(drop=True)
    if shuffle_labels:
        rows["label"] = np.random.RandomState(7).permutation(rows["label"].to_numpy())
    rows.to_csv(path, index=False)
    return path


def _models(dry_run, *args):
    return hokusai("models", *args, "--config", str(dry_run["config"]), home=dry_run["home"])


def _aliases(dry_run) -> dict:
    aliases = dry_run["client"].get_registered_model(MODEL_NAME).aliases
    return {alias: str(version) for alias, version in aliases.items()}


def test_registry_refuses_a_rejected_delta_promotes_and_rolls_back(dry_run, tmp_path):
    home, config = dry_run["home"], str(dry_run["config"])
    audit_log = home / "registry" / "audit.jsonl"

    # Version 2: a contribution whose labels carry no signal; its delta is rejected.
    noisy = _write_contribution(tmp_path / "noisy.csv", shuffle_labels=True)
    done = hokusai("evaluate", str(noisy), "--wallet", mock_wallet(), "--config", config, home=home)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] is False
    refused = _models(dry_run, "promote", "2", "--actor", "alice", "--reason", "try it")
    assert refused.returncode == 2
    assert "E_REGISTRY_REFUSED" in refused.stderr and "not accepted" in refused.stderr
    assert "champion" not in _aliases(dry_run)
    assert json.loads(audit_log.read_text().splitlines()[-1])["outcome"] == "refused"

    # Version 1 (the dry run's) becomes champion; then version 3, a second good contribution.
    assert _models(dry_run, "promote", "1", "--actor", "alice", "--reason", "first good model").returncode == 0
    good = _write_contribution(tmp_path / "good.csv", shuffle_labels=False)
    done = hokusai("evaluate", str(good), "--wallet", mock_wallet(), "--config", config, home=home)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] is True
    assert _aliases(dry_run)["challenger"] == "3"
    promoted = _models(dry_run, "promote", "3", "--actor", "bob", "--reason", "more data")
    assert promoted.returncode == 0, promoted.stderr
    assert _aliases(dry_run) == {"champion": "3", "previous-champion": "1"}

    listed = json.loads(_models(dry_run, "list", "--json").stdout)
    assert [(row["version"], row["accepted"]) for row in listed] == [("3", True), ("2", False), ("1", True)]

    rolled = _models(dry_run, "rollback", "--actor", "carol", "--reason", "regression in production")
    assert rolled.returncode == 0, rolled.stderr
    assert _aliases(dry_run)["champion"] == "1"
    version_3 = dry_run["client"].get_model_version(MODEL_NAME, "3")
    assert version_3.tags["hokusai.demoted_by"] == "carol"
    trail = [json.loads(line) for line in audit_log.read_text().splitlines()]
    assert [(line["action"], line["outcome"], line["actor"]) for line in trail] == [
        ("promote", "refused", "alice"),
        ("promote", "promoted", "alice"),
        ("promote", "promoted", "bob"),
        ("rollback", "rolled_back", "carol"),
    ]
