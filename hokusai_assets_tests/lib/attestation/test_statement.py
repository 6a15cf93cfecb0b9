
from hokusai_assets.lib.attestation.statement import (
    DATA_ROOT_ALGORITHM,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    build_statement,
)

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
