"""training.tuning through the real graph: tuned once, both models trained with the choice, attested,
tracked, and reproduced by `hokusai verify --rerun`."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest
import yaml

from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets.lib.commitments.digests import bytes_digest, file_digest
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.training.trainers import get_trainer
from hokusai_assets.services.reruns import rerun_checks
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.load import load_settings

from .conftest import run_job, statement_path
from .test_assets import latest_metadata

TUNING = {"method": "optuna", "trials": 4, "cv_folds": 3, "seed": 7}


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    from hokusai_assets.lib.samples.mock_task import write_mock_task

    root = tmp_path_factory.mktemp("tuned")
    task = write_mock_task(root / "task")
    raw = yaml.safe_load(task.config_path.read_text())
    raw["training"]["tuning"] = TUNING
    task.config_path.write_text(yaml.safe_dump(raw))
    settings = load_settings(config_path=task.config_path, home=root / "home", environ={})
    stored, _ = ContributionStore.open(settings.layout).put(task.contribution_path, Contributor(wallet=task.wallet))
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("contributions", [stored.key])
        assert run_job(defs, "prepare_baseline", instance).success
        result = run_job(defs, "evaluate_contribution", instance, partition_key=stored.key)
        assert result.success
        yield settings, instance, stored.key


def test_the_attestation_records_the_study_and_both_models_used_its_choice(tuned_run):
    settings, instance, key = tuned_run
    document = json.loads(settings.layout.document_file("tuned_hyperparameters").read_bytes())
    tuning = document["tuning"]
    assert len(tuning["trial_log"]) == 4 and tuning["cv_folds"] == 3 and set(tuning["chosen"]) == {"C"}
    predicate = json.loads(statement_path(settings, key).read_bytes())["predicate"]
    assert predicate["tuning"]["chosen"] == tuning["chosen"] == document["hyperparameters"]
    assert predicate["tuning"]["study_digest"] == tuning["study_digest"]
    assert predicate["tuning"]["direction"] == "maximize" and predicate["tuning"]["metric"] == "accuracy"

    # Both stored models are exactly what the trainer makes with the chosen C, and not the default's.
    baseline = settings.layout.table_file("baseline_training_set")
    integrated = settings.layout.table_file("integrated_training_set", key)
    import pandas as pd

    for frame_path, model_path, attested in (
        (baseline, settings.layout.model_file("baseline_model"), predicate["baseline"]["model_digest"]),
        (integrated, settings.layout.model_file("improved_model", key), predicate["improved"]["model_digest"]),
    ):
        frame = pd.read_parquet(frame_path)
        assert file_digest(model_path) == attested
        chosen = get_trainer("sklearn", "logistic_regression", document["hyperparameters"], 0).fit(
            frame, settings.schema
        )
        default = get_trainer("sklearn", "logistic_regression", {}, 0).fit(frame, settings.schema)
        assert bytes_digest(chosen.to_bytes()) == attested != bytes_digest(default.to_bytes())

    # The chosen parameters' CV scores sit beside the benchmark metrics, in Dagster and in MLflow.
    metrics = latest_metadata(instance, "baseline_metrics")
    assert metrics["cv/accuracy_mean"].value == tuning["cv_mean"] and "metric/accuracy" in metrics
    from mlflow.tracking import MlflowClient

    run = MlflowClient(settings.layout.tracking_uri({})).get_run(
        latest_metadata(instance, "mlflow_run", key)["run_id"].value
    )
    assert run.data.metrics["cv.accuracy_mean"] == tuning["cv_mean"]
    assert run.data.params["tuning.study_digest"] == tuning["study_digest"]
    assert run.data.params["hp.C"] == str(tuning["chosen"]["C"])
    artifacts = MlflowClient(settings.layout.tracking_uri({})).list_artifacts(run.info.run_id, "tuning")
    assert [a.path for a in artifacts] == ["tuning/tuned_hyperparameters.json"]


def test_verify_rerun_reproduces_the_study_and_the_models(tuned_run):
    settings, _, key = tuned_run
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    done = subprocess.run(
        [sys.executable, "-m", "hokusai_assets.entry.cli", "verify", str(settings.layout.attestation(key).directory),
         "--rerun", "--config", str(settings.config_path), "--home", str(settings.home)],
        capture_output=True, text=True, env=environ, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("rerun_tuning_record", "rerun_tuning", "rerun_models", "rerun_metrics"):
        assert f"ok    {name}:" in done.stdout


def test_rerun_names_a_stored_study_that_is_not_the_attested_one(tuned_run, tmp_path):
    settings, _, key = tuned_run
    statement = json.loads(statement_path(settings, key).read_bytes())
    path = settings.layout.document_file("tuned_hyperparameters")
    original = path.read_bytes()
    document = json.loads(original)
    document["tuning"]["trial_log"][0]["cv_score"] += 0.01
    try:
        path.write_text(json.dumps(document))
        checks = rerun_checks(statement, settings)
    finally:
        path.write_bytes(original)
    failed = [c for c in checks if not c.ok]
    assert [c.name for c in failed] == ["rerun_tuning_record"]
    assert "study digest" in failed[0].detail and "rerun_models" not in [c.name for c in checks]


def _damaged_documents(original: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (file bytes, words the failed check must say)."""
    document = json.loads(original)

    def edited(change) -> bytes:
        copy = json.loads(original)
        change(copy)
        return json.dumps(copy).encode()

    return {
        "truncated": (original[: len(original) // 2], "not JSON"),
        "not utf-8": (b"\xff\xfe" + original, "not JSON"),
        "a list": (b"[]", "damaged"),
        "trial log a number": (edited(lambda d: d["tuning"].update(trial_log=7)), "trial_log"),
        "chosen missing": (edited(lambda d: d["tuning"].pop("chosen")), "tuning.chosen is missing"),
        "search space a string": (edited(lambda d: d["tuning"].update(search_space="C")), "search_space"),
        # A whole, valid document from a study of another model, or on another baseline.
        "another model": (edited(lambda d: d["tuning"].update(model="ridge")), "(model)"),
        "another baseline": (
            edited(lambda d: d["tuning"].update(baseline_root="sha256:" + "0" * 64)),
            "(baseline_root)",
        ),
        "another search space": (
            edited(lambda d: d["tuning"]["search_space"]["C"].update(high=document["tuning"]["search_space"]["C"]["high"] * 2)),
            "(search_space)",
        ),
    }  # fmt: skip


def test_rerun_reports_a_damaged_or_swapped_tuning_document_as_a_failed_check(tuned_run):
    settings, _, key = tuned_run
    statement = json.loads(statement_path(settings, key).read_bytes())
    path = settings.layout.document_file("tuned_hyperparameters")
    original = path.read_bytes()
    try:
        for name, (content, words) in _damaged_documents(original).items():
            path.write_bytes(content)
            checks = rerun_checks(statement, settings)
            failed = [c for c in checks if not c.ok]
            assert [c.name for c in failed] == ["rerun_tuning_record"], name
            assert words in failed[0].detail and "materialise tuned_hyperparameters" in failed[0].detail, name
    finally:
        path.write_bytes(original)
    assert all(c.ok for c in rerun_checks(statement, settings) if c.name == "rerun_tuning_record")
