"""``hokusai verify-epoch --rerun``: retrain every coalition from the stored inputs and compare.

The config is checked first (``rerun_config``); the epoch's rows, the baseline and the
benchmark are read from HOKUSAI_HOME's storage and checked against the data roots the
statement commits to; then every coalition and leave-one-out fit is trained again (no
cache), and the values, model digests, utilities and amounts must come out bit for bit as
signed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from hokusai_assets.lib.attestation.verify.base import Check
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.rewards.epoch_rows import MemberAccount, task_rows
from hokusai_assets.lib.rewards.payouts import allocate_players
from hokusai_assets.lib.rewards.statement import epoch_predicate_rewards
from hokusai_assets.services.epoch_valuation import value_epoch
from hokusai_assets.services.epochs import EPOCH_ROWS
from hokusai_assets.settings.load import Settings


def rerun_epoch_checks(statement: dict[str, Any], settings: Settings) -> list[Check]:
    predicate = statement["predicate"]
    epoch = predicate["epoch"]
    layout, schema = settings.layout, settings.schema
    rewards = settings.config.rewards
    signed_rewards = predicate["rewards"]
    ours = None if rewards is None else epoch_predicate_rewards(rewards.model_dump(mode="json"))
    if settings.config_digest != predicate["config_digest"] or ours != signed_rewards:
        return [
            Check(
                "rerun_config",
                False,
                f"{settings.config_path} is not the config the epoch was valued with (its digest or rewards section "
                "differ); rerun with the producing --config",
            )
        ]
    paths = {
        "epoch rows": layout.table_file(EPOCH_ROWS, epoch),
        "baseline": layout.table_file("baseline_training_set"),
        "benchmark": layout.table_file("benchmark_dataset"),
    }
    missing = [f"{name} ({path})" for name, path in paths.items() if not path.is_file()]
    if missing:
        detail = f"not stored under {settings.home}: {', '.join(missing)}; rerun with the producing --home"
        return [Check("rerun_inputs", False, detail)]
    try:
        table, baseline, benchmark = (pd.read_parquet(p) for p in paths.values())
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        detail = f"stored inputs under {settings.home} cannot be read ({error}); rerun with the producing --home"
        return [Check("rerun_inputs", False, detail)]
    roots = {
        "rows": (data_root(task_rows(table, schema), schema.columns), predicate["rows"]["data_root"]),
        "baseline": (data_root(baseline, schema.columns), predicate["baseline"]["data_root"]),
        "benchmark": (data_root(benchmark, schema.columns), predicate["benchmark"]["data_root"]),
    }
    wrong = [f"{name}: stored {got}, signed {want}" for name, (got, want) in roots.items() if got != want]
    if wrong:
        return [
            Check("rerun_inputs", False, "; ".join(wrong) + "; the stored inputs changed since the epoch was valued")
        ]
    checks = [
        Check("rerun_config", True, "the config is the one the epoch was valued with"),
        Check("rerun_inputs", True, "the stored rows, baseline and benchmark have the signed data roots"),
    ]
    accounts = [MemberAccount.from_document(c) for c in predicate["contributions"]]
    values = value_epoch(settings, table, accounts, baseline, benchmark, use_cache=False)
    reproduced = (
        [p["value"] for p in values["players"]] == [p["value"] for p in predicate["players"]]
        and values["coalitions"] == predicate["coalitions"]
        and values["leave_one_out"] == predicate["leave_one_out"]
    )
    outcome = "values, model digests and utilities match" if reproduced else "they differ from the signed ones"
    checks.append(
        Check("rerun_values", reproduced, f"{values['valuation']['trained_now']} coalition(s) retrained; {outcome}")
    )
    allocation = allocate_players(
        values["players"], [c["wallet"] for c in predicate["contributions"]],
        rewards.pool, wallet_cap=rewards.wallet_cap, epoch_cap=rewards.epoch_cap,
    )  # fmt: skip
    matches = allocation.as_dict()["amounts"] == predicate["payouts"]["amounts"]
    checks.append(
        Check("rerun_payouts", matches, "amounts reproduced" if matches else "the amounts differ from the signed ones")
    )
    return checks
