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

# One worker builds the module's fixture once (pytest -n 2 --dist loadgroup).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("mixed_task")]
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

    task, home, result = evaluated
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

    # The contribution's e-mail, sent in clear (with stray spaces), reads as the pseudonym trained on.
    stored = pd.read_parquet(home / "storage" / "validated_contribution" / f"{result['partition']}.parquet")
    pseudonymised = stored[stored["comment"].str.startswith("Please write to <email:", na=False)].head(1)
    assert len(pseudonymised) == 1
    country = pseudonymised["country"].iloc[0]
    clear = pseudonymised.assign(
        comment=f"  Please write to {PII_EMAIL} about my refund.", country=None if country is None else f" {country} "
    )
    [from_stored], [from_clear] = registry.predict(pseudonymised), registry.predict(clear)
    assert from_clear["probabilities"] == from_stored["probabilities"]


def test_hokusai_serve_reads_a_clear_email_and_stray_spaces_as_intake_did(evaluated):
    import httpx

    from hokusai_assets_tests.e2e.serving import Server

    task, home, result = evaluated
    settings = load_settings(config_path=task.config_path, home=home, environ={})
    stored = pd.read_parquet(home / "storage" / "validated_contribution" / f"{result['partition']}.parquet")
    row = stored[stored["comment"].str.startswith("Please write to <email:", na=False)].head(1)
    features = row[settings.schema.feature_names].iloc[0]
    record = {name: (None if pd.isna(value) else value) for name, value in features.items()}
    record["visits"] = None if record["visits"] is None else int(record["visits"])
    clear = {**record, "comment": f"Please write to {PII_EMAIL} about my refund."}
    if clear["country"] is not None:
        clear["country"] = f"  {clear['country']}"
    url = f"/v1/models/{settings.config.registered_model_name}/predict?version=1"
    with Server(home, task.config_path) as server:
        answers = [httpx.post(server.url + url, json={"records": [r]}, timeout=30).json() for r in (record, clear)]
    stored_answer, clear_answer = (a["predictions"][0] for a in answers)
    assert clear_answer["probabilities"] == stored_answer["probabilities"]
    assert clear_answer["from_cache"] is True  # the clear row is the stored row, under one cache key
