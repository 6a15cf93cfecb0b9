"""A mixed-type task (numbers, a category, a comment, missing values) through `hokusai evaluate`,
then `hokusai verify --rerun`: the model side and the data side together."""

import json
from pathlib import Path

import pandas as pd
import pytest

from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.commitments.rows import iter_canonical_rows
from hokusai_assets.lib.samples.mixed_task import NEW_COUNTRY, PII_EMAIL, write_mixed_task
from hokusai_assets.lib.training.features import CategoryEncoding
from hokusai_assets.lib.training.model import model_from_bytes
from hokusai_assets.settings.load import load_settings

pytestmark = pytest.mark.e2e
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    from .conftest import hokusai

    root = tmp_path_factory.mktemp("mixed")
    task = write_mixed_task(root / "task")
    home = root / "home"
    done = hokusai("evaluate", str(task.contribution_path), "--wallet", WALLET, "--config", str(task.config_path), home=home)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return task, home, json.loads(done.stdout)


def test_the_mixed_task_is_evaluated_and_attested(evaluated):
    _, _, result = evaluated
    assert result["accepted"] is True and result["delta_one_score"] > 0
    statement = json.loads(Path(result["attestation"]).with_name("statement.json").read_bytes())
    assert statement["predicate"]["evaluation"]["accepted"] is True


def test_verify_rerun_retrains_the_mixed_models_to_the_attested_bytes(cli, evaluated, tmp_path):
    task, home, result = evaluated
    directory = Path(result["attestation"]).parent
    done = cli("verify", str(directory), "--rerun", "--config", str(task.config_path), "--home", str(home), home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    rerun_models:" in done.stdout and "ok    rerun_metrics:" in done.stdout


def test_a_category_unseen_by_the_baseline_is_scored_at_benchmark_time(evaluated):
    task, home, _ = evaluated
    settings = load_settings(config_path=task.config_path, home=home, environ={})
    baseline = model_from_bytes((settings.home / "storage" / "baseline_model.safetensors").read_bytes())
    country = next(e for e in baseline.encoder.encodings if isinstance(e, CategoryEncoding) and e.name == "country")
    assert NEW_COUNTRY not in country.categories
    benchmark = pd.read_parquet(settings.home / "storage" / "benchmark_dataset.parquet")
    assert (benchmark["country"] == NEW_COUNTRY).any()
    assert len(baseline.predict(benchmark).y_pred) == len(benchmark)


def test_the_stored_contribution_has_pseudonymised_comments_and_commits_nulls(evaluated):
    task, home, result = evaluated
    stored = pd.read_parquet(home / "storage" / "validated_contribution" / f"{result['partition']}.parquet")
    comments = stored["comment"].dropna().tolist()
    assert not any(PII_EMAIL in c for c in comments) and any("<email:" in c for c in comments)
    for path in home.rglob("*"):
        if path.is_file() and "quarantine" not in path.parts:
            assert PII_EMAIL.encode() not in path.read_bytes(), path
    settings = load_settings(config_path=task.config_path, home=home, environ={})
    columns = settings.schema.columns
    rows = [json.loads(r) for r in iter_canonical_rows(stored, columns)]
    for column in ("age", "visits", "country", "comment"):
        assert any(row[column] is None for row in rows), column
    statement = json.loads(Path(result["attestation"]).with_name("statement.json").read_bytes())
    assert data_root(stored, columns) == statement["predicate"]["contribution"]["data_root"]


def test_the_promoted_mixed_model_serves_strings_nulls_and_unseen_categories(evaluated):
    from hokusai_assets.api import ModelRegistry

    task, home, _ = evaluated
    registry = ModelRegistry(settings=load_settings(config_path=task.config_path, home=home, environ={}))
    registry.promote("1", actor="test", reason="the mixed task's accepted challenger")
    rows = [
        {"age": None, "visits": None, "monthly_spend": 20.0, "country": "ZZ", "comment": None},
        {"age": 30.0, "visits": 3, "monthly_spend": 20.0, "country": "DE", "comment": "Great service."},
    ]
    answers = registry.predict(rows)
    assert [a["version"] for a in answers] == ["1", "1"]
    assert all(abs(sum(a["probabilities"].values()) - 1) < 1e-9 for a in answers)
    benchmark = pd.read_parquet(home / "storage" / "benchmark_dataset.parquet")
    assert len(registry.predict(benchmark.head(50))) == 50  # a frame's NaN / None cells are nulls
