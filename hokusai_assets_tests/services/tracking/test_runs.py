"""MLflow tracking and the registry, checked through MlflowClient on a temporary SQLite store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.registry.promotion import PromotionEvidence
from hokusai_assets.lib.samples.mock_task import feature_names, generate_rows
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.tracking.record import delta_metrics
from hokusai_assets.lib.training.model import model_from_bytes
from hokusai_assets.lib.training.trainers import get_trainer
from hokusai_assets.services.tracking import registry, runs
from hokusai_assets.services.tracking import store as tracking_store
from hokusai_assets.settings.layout import HomeLayout

SCHEMA = TaskSchema(
    task_type="classification",
    label="label",
    label_type="int",
    features=tuple((name, "float") for name in feature_names()),
)
ACCEPTED_DELTA = {
    "metric_deltas": {
        "accuracy": {
            "baseline_value": 0.70,
            "new_value": 0.75,
            "absolute_delta": 0.05,
            "relative_delta": 0.05 / 0.70,
            "higher_is_better": True,
            "improvement": True,
            "direction_aware_delta": 0.05,
        }
    },
    "delta_one_score": 0.0498,
    "delta_one_bps": 498,
    "accepted": True,
    "significance": {"ci_lower": 0.01, "ci_upper": 0.09, "p_value": 0.001, "mcnemar": {"p_value": 0.01}},
}
REJECTED_DELTA = {**ACCEPTED_DELTA, "accepted": False, "delta_one_bps": 0}


class Store:
    """One SQLite tracking store, two real model files and the files a run logs."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.uri = HomeLayout(home).tracking_uri({})
        files = home / "files"
        files.mkdir(parents=True)
        trainer = get_trainer("sklearn", "logistic_regression", {}, 0)
        self.baseline_file = files / "baseline.safetensors"
        self.baseline_file.write_bytes(trainer.fit(generate_rows("classification", 60, 0), SCHEMA).to_bytes())
        self.improved_file = files / "improved.safetensors"
        self.improved_file.write_bytes(trainer.fit(generate_rows("classification", 400, 0), SCHEMA).to_bytes())
        self.delta_file = files / "delta_result.json"
        self.delta_file.write_text(json.dumps(ACCEPTED_DELTA), encoding="utf-8")
        self.plot_file = files / "confusion.png"
        self.plot_file.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
        self.attestation_dir = files / "attestation"
        self.attestation_dir.mkdir()
        for name in ("statement.json", "statement.dsse.json", "receipt.json"):
            (self.attestation_dir / name).write_text('{"file": "%s"}' % name, encoding="utf-8")
        self.audit_log = home / "registry" / "audit.jsonl"
        self.client = MlflowClient(self.uri)

    def log(self, model_name: str, partition: str, delta: dict = ACCEPTED_DELTA, **overrides) -> runs.TrackedRun:
        arguments = dict(
            tracking_uri=self.uri,
            experiment="mock_classification",
            partition=partition,
            dagster_run_id=f"dagster-{partition}",
            params={"seed": 0, "framework": "sklearn", "contribution_key": partition, "config_digest": "sha256:ab"},
            metrics=delta_metrics(delta),
            artifacts={
                "delta/delta_result.json": self.delta_file,
                "plots/confusion.png": self.plot_file,
                **{f"attestation/{p.name}": p for p in sorted(self.attestation_dir.iterdir())},
            },
            improved_model_file=self.improved_file,
            baseline_model_file=self.baseline_file,
            input_example=generate_rows("classification", 8, 1),
            model_name=model_name,
            delta=delta,
        )
        arguments.update(overrides)
        return runs.log_contribution_run(**arguments)

    def aliases(self, model_name: str) -> dict[str, str]:
        return {alias: str(version) for alias, version in self.client.get_registered_model(model_name).aliases.items()}

    def audit_lines(self) -> list[dict]:
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("mlflow-home"))


@pytest.fixture(scope="module")
def tracked(store: Store) -> runs.TrackedRun:
    return store.log("tracked_model", "c-0123456789abcdef")


def _promote(store: Store, model_name: str, version: str, **overrides):
    arguments = dict(actor="alice", reason="beats the champion on the benchmark", audit_log=store.audit_log)
    evidence = dict(attestation_verified=True, delta_accepted=True)
    for name, value in overrides.items():
        (evidence if name in PromotionEvidence.__dataclass_fields__ else arguments)[name] = value
    return registry.promote(store.uri, model_name, version, evidence=PromotionEvidence(**evidence), **arguments)


# ----------------------------------------------------------------------------- locations


def test_tracking_uri_defaults_to_sqlite_under_home_and_env_overrides(tmp_path):
    assert HomeLayout(tmp_path).tracking_uri({}) == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert HomeLayout(tmp_path).tracking_uri({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}) == "http://mlflow:5000"
    uri = HomeLayout(tmp_path).tracking_uri({})
    assert tracking_store.default_artifact_location(uri) == (tmp_path / "mlflow" / "artifacts").as_uri()
    assert tracking_store.default_artifact_location("http://mlflow:5000") is None


# ----------------------------------------------------------------------------- runs


def test_run_is_finished_with_params_metrics_tags_and_artifacts(store, tracked):
    run = store.client.get_run(tracked.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "c-0123456789abcdef"
    assert run.data.params["seed"] == "0"
    assert run.data.params["contribution_key"] == "c-0123456789abcdef"
    assert run.data.metrics["delta_one_score"] == pytest.approx(0.0498)
    assert run.data.metrics["delta_one_bps"] == 498
    assert run.data.metrics["accepted"] == 1.0
    assert run.data.metrics["baseline.accuracy"] == pytest.approx(0.70)
    assert run.data.metrics["improved.accuracy"] == pytest.approx(0.75)
    assert run.data.metrics["delta.accuracy"] == pytest.approx(0.05)
    assert run.data.tags["dagster_run_id"] == "dagster-c-0123456789abcdef"
    assert run.data.tags["hokusai.partition"] == "c-0123456789abcdef"
    assert run.data.tags["hokusai.kind"] == "contribution"

    def listing(path=None):
        return {a.path for a in store.client.list_artifacts(tracked.run_id, path)}

    assert {"delta", "plots", "attestation", "models"} <= listing()
    assert listing("attestation") == {
        "attestation/receipt.json",
        "attestation/statement.dsse.json",
        "attestation/statement.json",
    }
    assert "plots/confusion.png" in listing("plots")
    assert listing("models") == {"models/baseline.safetensors", "models/improved.safetensors"}

    experiment = store.client.get_experiment(tracked.experiment_id)
    assert experiment.name == "mock_classification"
    assert experiment.artifact_location == (store.home / "mlflow" / "artifacts").as_uri()
    # The logged model belongs to the run and to the run's experiment (not the default one).
    logged = store.client.get_logged_model(tracked.logged_model_id)
    assert logged.source_run_id == tracked.run_id
    assert logged.experiment_id == tracked.experiment_id
    assert [o.model_id for o in run.outputs.model_outputs] == [tracked.logged_model_id]


def test_registered_version_is_the_challenger_with_its_evidence(store, tracked):
    challenger = store.client.get_model_version_by_alias("tracked_model", "challenger")
    assert str(challenger.version) == tracked.model_version
    assert challenger.run_id == tracked.run_id
    assert challenger.tags["hokusai.partition"] == "c-0123456789abcdef"
    assert challenger.tags["hokusai.delta_one_bps"] == "498"
    assert challenger.tags["hokusai.accepted"] == "true"
    assert challenger.tags["hokusai.model_digest"].startswith("sha256:")
    # The version points at the run's logged model, which finished uploading.
    assert challenger.source == f"models:/{tracked.logged_model_id}"
    assert str(store.client.get_logged_model(tracked.logged_model_id).status) == "READY"


def test_challenger_loads_through_mlflow_and_predicts_like_our_model(store, tracked, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    loaded = mlflow.pyfunc.load_model("models:/tracked_model@challenger")
    rows = generate_rows("classification", 50, 7)
    ours = model_from_bytes(store.improved_file.read_bytes())
    expected = ours.predict(rows).y_pred
    got = np.asarray(loaded.predict(rows[feature_names()]))
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_regression_model_predicts_values(store, monkeypatch):
    schema = TaskSchema("regression", "label", "float", SCHEMA.features)
    model = get_trainer("sklearn", "ridge", {}, 0).fit(generate_rows("regression", 200, 0), schema)
    model_file = store.home / "files" / "ridge.safetensors"
    model_file.write_bytes(model.to_bytes())
    store.log(
        "regression_model",
        "c-0000000000000008",
        improved_model_file=model_file,
        input_example=generate_rows("regression", 5, 1),
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    loaded = mlflow.pyfunc.load_model("models:/regression_model@challenger")
    rows = generate_rows("regression", 20, 2)
    got = np.asarray(loaded.predict(rows[feature_names()]))
    assert got.dtype == np.float64
    assert np.allclose(got, model.predict(rows).y_pred, rtol=0, atol=0)


def test_logged_model_contains_no_pickle(store, tracked):
    logged = store.client.get_logged_model(tracked.logged_model_id)
    root = Path(mlflow.artifacts.download_artifacts(artifact_uri=logged.artifact_location, tracking_uri=store.uri))
    files = [p for p in root.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert "python_model.pkl" not in names
    assert not [p for p in files if p.suffix in {".pkl", ".pickle", ".cloudpickle", ".joblib"}]
    assert {"MLmodel", "pyfunc.py", "improved.safetensors"} <= names
    flavor = yaml.safe_load((root / "MLmodel").read_text(encoding="utf-8"))["flavors"]["python_function"]
    # Models from code: MLflow runs the copied source file; there is no pickled python_model.
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert flavor["model_code_path"].endswith("pyfunc.py")
    assert "python_model" not in flavor
    assert flavor["artifacts"]["model_file"]["path"].endswith(".safetensors")


def test_a_failing_run_ends_failed_and_leaves_no_version(store):
    with pytest.raises(tracking_store.TrackingError) as caught:
        store.log("failing_model", "c-fa11fa11fa11fa11", artifacts={"missing.json": store.home / "nope.json"})
    assert caught.value.code == "E_TRACKING_ARTIFACT"
    runs = store.client.search_runs(
        [store.client.get_experiment_by_name("mock_classification").experiment_id],
        "tags.`hokusai.partition` = 'c-fa11fa11fa11fa11'",
    )
    assert [r.info.status for r in runs] == ["FAILED"]
    assert registry.list_versions(store.uri, "failing_model") == []


def test_global_tracking_uri_and_environment_are_restored(store, monkeypatch):
    from mlflow.tracking._tracking_service import utils as tracking_utils

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere.invalid:5000")
    before = tracking_utils._tracking_uri
    store.log("restore_model", "c-0000000000000001")
    assert tracking_utils._tracking_uri == before
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://elsewhere.invalid:5000"


def test_delta_metrics_are_flat_numbers():
    metrics = delta_metrics(ACCEPTED_DELTA)
    assert metrics["relative_delta.accuracy"] == pytest.approx(0.05 / 0.70)
    assert metrics["significance.ci_lower"] == 0.01
    assert metrics["significance.mcnemar_p_value"] == 0.01
    assert all(isinstance(v, float) for v in metrics.values())


# ----------------------------------------------------------------------------- registry


def test_promotion_is_refused_without_evidence_and_nothing_changes(store):
    model = "refused_model"
    rejected = store.log(model, "c-0000000000000002", delta=REJECTED_DELTA)
    before_aliases = store.aliases(model)
    before_tags = dict(store.client.get_model_version(model, rejected.model_version).tags)
    audit_before = len(store.audit_lines())

    cases = [
        dict(delta_accepted=False),
        dict(attestation_verified=False),
        dict(require_approval=True, approved=False),
        dict(),  # the caller says accepted, but the version's own tag says rejected
    ]
    for overrides in cases:
        with pytest.raises(HokusaiError) as caught:
            _promote(store, model, rejected.model_version, **overrides)
        assert caught.value.code == "E_REGISTRY_REFUSED"
        assert "refusing to promote" in caught.value.message

    assert store.aliases(model) == before_aliases == {"challenger": rejected.model_version}
    assert dict(store.client.get_model_version(model, rejected.model_version).tags) == before_tags
    refused = store.audit_lines()[audit_before:]
    assert [line["outcome"] for line in refused] == ["refused"] * len(cases)
    assert refused[0]["to_version"] == rejected.model_version and refused[0]["actor"] == "alice"

    with pytest.raises(HokusaiError) as caught:
        _promote(store, model, rejected.model_version, actor=" ")
    assert caught.value.code == "E_REGISTRY_REFUSED"


def test_promote_keeps_previous_champion_and_rollback_restores_it(store):
    model = "promoted_model"
    first = store.log(model, "c-0000000000000003")
    second = store.log(model, "c-0000000000000004")
    assert store.aliases(model) == {"challenger": second.model_version}

    result = _promote(store, model, first.model_version)
    assert (result.from_version, result.to_version, result.changed) == (None, first.model_version, True)
    assert store.aliases(model) == {"champion": first.model_version, "challenger": second.model_version}
    tags = store.client.get_model_version(model, first.model_version).tags
    assert tags["hokusai.promoted_by"] == "alice"
    assert tags["hokusai.promotion_reason"] == "beats the champion on the benchmark"
    assert tags["hokusai.promoted_at"]

    result = _promote(store, model, second.model_version, actor="bob", reason="second contribution is better")
    assert (result.from_version, result.to_version) == (first.model_version, second.model_version)
    # The challenger became the champion: its challenger alias goes.
    assert store.aliases(model) == {"champion": second.model_version, "previous-champion": first.model_version}
    assert store.client.get_model_version(model, second.model_version).tags["hokusai.promoted_by"] == "bob"

    versions = {row["version"]: row for row in registry.list_versions(store.uri, model)}
    assert versions[second.model_version]["aliases"] == ["champion"]
    assert versions[first.model_version]["aliases"] == ["previous-champion"]
    assert versions[first.model_version]["partition"] == "c-0000000000000003"
    assert versions[first.model_version]["delta_one_bps"] == 498
    assert versions[first.model_version]["accepted"] is True
    assert versions[first.model_version]["run_id"] == first.run_id
    assert versions[first.model_version]["created"]
    assert [row["version"] for row in registry.list_versions(store.uri, model)] == sorted(
        versions, key=int, reverse=True
    )

    result = registry.rollback(
        store.uri, model, actor="carol", reason="regression in production", audit_log=store.audit_log
    )
    assert (result.from_version, result.to_version) == (second.model_version, first.model_version)
    assert store.aliases(model) == {"champion": first.model_version}
    restored = store.client.get_model_version(model, first.model_version).tags
    assert restored["hokusai.promoted_by"] == "carol"
    assert "regression in production" in restored["hokusai.promotion_reason"]
    assert store.client.get_model_version(model, second.model_version).tags["hokusai.demoted_by"] == "carol"

    with pytest.raises(HokusaiError) as caught:
        registry.rollback(store.uri, model, actor="carol", reason="again", audit_log=store.audit_log)
    assert caught.value.code == "E_REGISTRY_NO_PREVIOUS"
    assert store.aliases(model) == {"champion": first.model_version}


def test_rollbacks_walk_back_through_the_promotion_history(store):
    model = "history_model"
    versions = [store.log(model, f"c-00000000000001{i:02d}").model_version for i in range(3)]
    for version in versions:
        _promote(store, model, version)
    registry.rollback(store.uri, model, actor="dan", reason="bad", audit_log=store.audit_log)
    assert store.aliases(model) == {"champion": versions[1], "previous-champion": versions[0]}
    registry.rollback(store.uri, model, actor="dan", reason="also bad", audit_log=store.audit_log)
    assert store.aliases(model) == {"champion": versions[0]}

    again = _promote(store, model, versions[0])
    assert (again.changed, again.from_version, again.to_version) == (False, versions[0], versions[0])
    assert store.aliases(model) == {"champion": versions[0]}


def test_a_promotion_expecting_another_champion_is_refused_and_changes_nothing(store):
    """An experiment's automatic promotion names the champion B was measured against; a person
    who promoted another version meanwhile is not overruled."""
    model = "moved_model"
    measured, promoted_meanwhile, winner = (store.log(model, f"c-00000000000002{i:02d}").model_version for i in range(3))
    _promote(store, model, measured)
    _promote(store, model, promoted_meanwhile, actor="erin", reason="hotfix")
    before = store.aliases(model)
    with pytest.raises(HokusaiError) as caught:
        _promote(store, model, winner, expected_champion=measured)
    assert caught.value.code == "E_REGISTRY_CHAMPION_MOVED"
    assert f"the champion is now version {promoted_meanwhile}, not version {measured}" in caught.value.message
    assert store.aliases(model) == before
    assert store.audit_lines()[-1]["outcome"] == "refused"
    result = _promote(store, model, winner, expected_champion=promoted_meanwhile)  # as expected: goes ahead
    assert (result.from_version, result.to_version, result.changed) == (promoted_meanwhile, winner, True)


def test_unknown_model_or_version_is_a_clear_error(store):
    with pytest.raises(HokusaiError) as caught:
        registry.rollback(store.uri, "no_such_model", actor="eve", reason="x", audit_log=store.audit_log)
    assert caught.value.code == "E_REGISTRY_NO_MODEL"
    store.log("versioned_model", "c-0000000000000007")
    with pytest.raises(HokusaiError) as caught:
        _promote(store, "versioned_model", "99")
    assert caught.value.code == "E_REGISTRY_NO_VERSION"


def test_audit_log_is_append_only(store, tmp_path):
    model = "audited_model"
    first = store.log(model, "c-0000000000000005")
    second = store.log(model, "c-0000000000000006")
    audit = tmp_path / "audit" / "registry.jsonl"
    snapshots = []

    def step(action):
        action()
        snapshots.append(audit.read_bytes())

    step(lambda: _promote(store, model, first.model_version, audit_log=audit))
    step(lambda: _promote(store, model, second.model_version, actor="bob", reason="better", audit_log=audit))
    step(
        lambda: pytest.raises(
            HokusaiError, _promote, store, model, first.model_version, delta_accepted=False, audit_log=audit
        )
    )
    step(lambda: registry.rollback(store.uri, model, actor="carol", reason="incident 42", audit_log=audit))
    for earlier, later in zip(snapshots, snapshots[1:]):
        assert later.startswith(earlier) and len(later) > len(earlier)

    lines = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    assert [(line["action"], line["outcome"]) for line in lines] == [
        ("promote", "promoted"),
        ("promote", "promoted"),
        ("promote", "refused"),
        ("rollback", "rolled_back"),
    ]
    assert lines[1]["actor"] == "bob" and lines[1]["reason"] == "better"
    assert (lines[1]["from_version"], lines[1]["to_version"]) == (first.model_version, second.model_version)
    assert (lines[3]["from_version"], lines[3]["to_version"]) == (second.model_version, first.model_version)
    assert all(line["at"] and line["model"] == model for line in lines)
