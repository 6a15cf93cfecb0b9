import json

from hokusai_assets.lib.attestation.statement import (
    DATA_ROOT_ALGORITHM,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    build_statement,
    write_attestation,
)
from hokusai_assets.lib.commitments.canonical import bytes_digest

MODEL = "sha256:" + "ab" * 32
ROOT = "sha256:" + "cd" * 32


def statement(**overrides):
    fields = dict(
        task={"name": "t", "type": "classification", "label": "y"},
        contribution={"partition": "c-0123456789abcdef", "wallet": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "data_root": ROOT},
        baseline={"model_digest": MODEL},
        improved={"model_digest": MODEL},
        benchmark={"data_root": ROOT, "rows": 3},
        evaluation={"delta_one_score": 0.0123, "delta_one_bps": 123, "accepted": True},
        config_digest=ROOT,
        code={"package": "hokusai_assets", "version": "0", "git_commit": None},
        seed=1,
    )
    fields.update(overrides)
    return build_statement(**fields)


def test_statement_is_in_toto_v1_with_model_and_data_subjects():
    s = statement()
    assert s["_type"] == STATEMENT_TYPE and s["predicateType"] == PREDICATE_TYPE
    assert s["subject"][0]["digest"] == {"sha256": "ab" * 32}
    assert s["subject"][1]["digest"] == {DATA_ROOT_ALGORITHM: "cd" * 32}


def test_statement_bytes_are_canonical_and_carry_no_time(tmp_path):
    path_a, digest_a = write_attestation(tmp_path / "a", statement(), {"dagster_run_id": "run-1"})
    path_b, digest_b = write_attestation(tmp_path / "b", statement(), {"dagster_run_id": "run-2"})
    assert path_a.read_bytes() == path_b.read_bytes() and digest_a == digest_b
    assert digest_a == bytes_digest(path_a.read_bytes())
    assert b" " not in path_a.read_bytes()  # RFC 8785: no insignificant whitespace
    receipt = json.loads((tmp_path / "a" / "receipt.json").read_text())
    assert receipt["dagster_run_id"] == "run-1" and receipt["statement_digest"] == digest_a and "written_at" in receipt


def test_any_changed_field_changes_the_digest(tmp_path):
    _, original = write_attestation(tmp_path / "a", statement(), {})
    _, changed = write_attestation(tmp_path / "b", statement(seed=2), {})
    assert original != changed
