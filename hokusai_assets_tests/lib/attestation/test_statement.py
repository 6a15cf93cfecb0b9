"""The statement's one definition (lib/attestation/statement.py): built, written, read back."""

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
import rfc8785

from hokusai_assets.lib.attestation.statement import (
    DATA_ROOT_ALGORITHM,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    AttestedContribution,
    AttestedModel,
    DeltaOnePredicate,
    StatementFormatError,
    attest_contribution,
)
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.trainers import get_trainer

MODEL = "sha256:" + "ab" * 32
ROOT = "sha256:" + "cd" * 32
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
PINNED = Path(__file__).resolve().parents[2] / "fixtures" / "statements"


def predicate(**overrides) -> DeltaOnePredicate:
    fields = dict(
        task_name="t",
        task_type="classification",
        label="y",
        columns=("x", "y"),
        contribution=AttestedContribution("c-0123456789abcdef", WALLET, None, None, MODEL, "csv", ROOT, 3, None),
        baseline=AttestedModel(MODEL, ROOT, 2),
        improved=AttestedModel(MODEL, ROOT, 5, integration_strategy="append"),
        benchmark_data_root=ROOT,
        benchmark_rows=3,
        evaluation={"task_type": "classification", "delta_one_score": 0.0123, "delta_one_bps": 123, "accepted": True},
        config_digest=ROOT,
        code_version={"package": "hokusai_assets", "version": "0", "git_commit": None},
        seed=1,
    )
    fields.update(overrides)
    return DeltaOnePredicate(**fields)


def statement(**overrides) -> dict:
    return predicate(**overrides).statement()


def test_statement_is_in_toto_v1_with_model_and_data_subjects():
    s = statement()
    assert s["_type"] == STATEMENT_TYPE and s["predicateType"] == PREDICATE_TYPE
    assert s["subject"][0] == {"name": "model:t:c-0123456789abcdef", "digest": {"sha256": "ab" * 32}}
    assert s["subject"][1] == {"name": "data:c-0123456789abcdef", "digest": {DATA_ROOT_ALGORITHM: "cd" * 32}}
    assert "integration_strategy" not in s["predicate"]["baseline"]
    assert s["predicate"]["improved"]["integration_strategy"] == "append"


@pytest.mark.parametrize("pinned", sorted(PINNED.glob("*.statement.json")), ids=lambda p: p.name)
def test_a_statement_reads_back_to_the_same_predicate_and_bytes(pinned):
    assert DeltaOnePredicate.from_statement(statement()) == predicate()
    real = json.loads(pinned.read_bytes())  # a real run's statement (pinned without its code version)
    real["predicate"]["code_version"] = {"package": "hokusai_assets", "version": "0.1.0", "git_commit": None}
    assert rfc8785.dumps(DeltaOnePredicate.from_statement(real).statement()) == rfc8785.dumps(real)


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda s: s.update(_type="x"), "_type is 'x'"),
        (lambda s: s["predicate"].pop("seed"), "the predicate lacks seed"),
        (lambda s: s["predicate"]["improved"].update(model_digest="sha256:00"), "improved.model_digest is not a sha256"),
        (lambda s: s["predicate"]["contribution"].update(partition="c-XYZ"), "contribution.partition 'c-XYZ'"),
        (lambda s: s["predicate"]["contribution"].update(wallet=WALLET.lower()), "is not an EIP-55 address"),
        (lambda s: s["predicate"]["evaluation"].update(task_type="regression"), "differs from task.type"),
        (lambda s: s["subject"].pop(), "exactly two subjects"),
        (lambda s: s["subject"][1].update(name="data:other"), "subject[1] is not the contribution"),
    ],
)
def test_a_malformed_statement_is_refused_saying_what_is_wrong(damage, says):
    s = statement()
    damage(s)
    with pytest.raises(StatementFormatError) as error:
        DeltaOnePredicate.from_statement(s)
    assert says in error.value.message and error.value.code == "E_ATTESTATION_STATEMENT"


def test_attest_contribution_commits_to_the_tables_and_models_it_is_given():
    schema = TaskSchema("classification", "y", "int", (("x", "float"),))
    rows = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0, 1, 0, 1]})
    more = pd.concat([rows, pd.DataFrame({"x": [4.0, 5.0], "y": [0, 1]})], ignore_index=True)
    trainer = get_trainer("sklearn", "logistic_regression", {}, 0)
    baseline, improved = trainer.fit(rows, schema), trainer.fit(more, schema)
    built = attest_contribution(
        task_name="t", schema=schema, partition="c-0123456789abcdef", contributor=Contributor(WALLET, "me"),
        file_digest=MODEL, file_format="csv", contribution=more.tail(2), drift_digest=None,
        baseline_model=baseline, baseline_rows=rows, improved_model=improved, improved_rows=more,
        integration_strategy="append", benchmark=rows, delta={"task_type": "classification"},
        config_digest=ROOT, seed=0, code={"package": "hokusai_assets"},
    )
    assert built.columns == ("x", "y") and built.contribution.rows == 2 and built.contribution.contributor_id == "me"
    assert built.contribution.data_root == data_root(more.tail(2), ["x", "y"])
    assert built.improved.model_digest == bytes_digest(improved.to_bytes()) != built.baseline.model_digest
    assert (built.baseline.training_rows, built.improved.training_rows, built.benchmark_rows) == (4, 6, 4)
    assert DeltaOnePredicate.from_statement(built.statement()) == dataclasses.replace(built, code_version={"package": "hokusai_assets"})
