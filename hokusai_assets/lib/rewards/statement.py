"""The epoch's statement: an in-toto Statement v1 of who is paid what for which rows, and why.

Subjects are the epoch model (sha256 of its file), the epoch's new rows (their data root)
and, when anyone is paid, the payout root (the OpenZeppelin StandardMerkleTree over
(wallet, amount) leaves).
The predicate holds everything needed to recompute the payouts from the statement alone:
every contribution's account and data root, the players (clusters) with their holders and
values, every coalition that was fitted (its data root, model digest and utility), the
valuation method, seeds and budget, each contribution's leave-one-out value, and the
amounts. Like the contribution statement it
carries no time and no run id, and amounts are decimal strings (RFC 8785 writes numbers as
IEEE doubles, exact only below 2**53), so the same epoch always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hokusai_assets.lib.attestation.statement import DATA_ROOT_ALGORITHM, STATEMENT_TYPE
from hokusai_assets.lib.commitments.digests import parse_digest
from hokusai_assets.lib.rewards.errors import RewardsError

PREDICATE_TYPE = "https://hokusai.ai/attestations/reward-epoch/v1"
PAYOUT_ROOT_ALGORITHM = "oz-standard-merkle-keccak256"
PREDICATE_SECTIONS = (
    "epoch", "window", "task", "config_digest", "rewards", "baseline", "benchmark", "epoch_model",
    "contributions", "rows", "players", "valuation", "coalitions", "leave_one_out", "payouts",
    "code_version",
)  # fmt: skip


def epoch_statement(predicate: Mapping[str, Any]) -> dict[str, Any]:
    """The statement of an epoch whose predicate has every section of ``PREDICATE_SECTIONS``."""
    missing = [s for s in PREDICATE_SECTIONS if s not in predicate]
    if missing:
        raise RewardsError(f"the epoch predicate lacks {', '.join(missing)}", code="E_EPOCH_STATEMENT")
    epoch = predicate["epoch"]
    subjects = [
        {
            "name": f"model:epoch:{epoch}",
            "digest": {"sha256": parse_digest(predicate["epoch_model"]["model_digest"]).hex()},
        },
        {
            "name": f"data:epoch:{epoch}",
            "digest": {DATA_ROOT_ALGORITHM: parse_digest(predicate["rows"]["data_root"]).hex()},
        },
    ]
    root = predicate["payouts"]["root"]
    if root is not None:  # nobody paid: no tree, no root
        subjects.append({"name": f"payouts:epoch:{epoch}", "digest": {PAYOUT_ROOT_ALGORITHM: root.removeprefix("0x")}})
    return {"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": PREDICATE_TYPE, "predicate": dict(predicate)}


def read_epoch_statement(statement: Any) -> dict[str, Any]:
    """The predicate of an epoch statement, after checking its form; RewardsError says what is wrong."""

    def bad(detail: str) -> RewardsError:
        return RewardsError(f"not a reward-epoch statement: {detail}", code="E_EPOCH_STATEMENT")

    if not isinstance(statement, Mapping):
        raise bad("not a JSON object")
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != PREDICATE_TYPE:
        raise bad(f"_type/predicateType are {statement.get('_type')!r}/{statement.get('predicateType')!r}")
    predicate = statement.get("predicate")
    if not isinstance(predicate, Mapping):
        raise bad("no predicate object")
    missing = [s for s in PREDICATE_SECTIONS if s not in predicate]
    if missing:
        raise bad(f"the predicate lacks {', '.join(missing)}")
    if dict(statement) != epoch_statement(predicate):
        raise bad("its subjects do not name the epoch model, rows and payout root of its predicate")
    return dict(predicate)


def epoch_predicate_rewards(rewards: Mapping[str, Any]) -> dict[str, Any]:
    """The rewards section as the statement records it: amounts (which may pass 2**53) as
    decimal strings, like the payouts."""
    return {
        k: (str(v) if k in ("pool", "wallet_cap", "epoch_cap") and v is not None else v) for k, v in rewards.items()
    }


def epoch_predicate(
    *,
    epoch_document: Mapping[str, Any],
    values: Mapping[str, Any],
    payouts: Mapping[str, Any],
    task: Mapping[str, Any],
    rewards: Mapping[str, Any],
    config_digest: str,
    baseline: Mapping[str, Any],
    benchmark: Mapping[str, Any],
    epoch_model: Mapping[str, Any],
    code_version: Mapping[str, Any],
) -> dict[str, Any]:
    """The predicate from the epoch's asset documents (``reward_epoch``, ``contribution_values``,
    ``payouts``): everything but the harmful-row diagnostics, which stay in the report."""
    return {
        "epoch": epoch_document["epoch"],
        "window": dict(epoch_document["window"]),
        "task": dict(task),
        "config_digest": config_digest,
        "rewards": epoch_predicate_rewards(rewards),
        "baseline": dict(baseline),
        "benchmark": dict(benchmark),
        "epoch_model": dict(epoch_model),
        "contributions": list(epoch_document["contributions"]),
        "rows": dict(epoch_document["rows"]),
        "players": list(values["players"]),
        "valuation": {k: v for k, v in values["valuation"].items() if k != "trained_now"},
        "coalitions": list(values["coalitions"]),
        "leave_one_out": dict(values["leave_one_out"]),
        "payouts": {
            k: payouts[k] for k in ("method", "pool", "distributable", "total", "unallocated", "amounts", "root")
        },
        "code_version": dict(code_version),
    }
