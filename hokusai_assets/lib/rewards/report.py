"""What people read of an epoch: markdown tables (per wallet, per contribution, harmful rows) and a chart.

All but the harmful rows (a diagnostic, not signed) come from the epoch's predicate
(``statement.py``), so the UI, MLflow and the report beside the statement show exactly the
numbers that were signed. A wallet's value is its share of the players with a positive
value (``players.wallet_values``), what its amount is proportional to.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from hokusai_assets.lib.rewards.epoch_rows import rows_kept_by_wallet
from hokusai_assets.lib.rewards.players import wallet_values


def wallet_rows(predicate: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per wallet: rows kept, value (exact share of the players'), standard error, amount."""
    players = predicate["players"]
    values = wallet_values([p["value"] for p in players], {p["player"]: p["holders"] for p in players})
    variance: dict[str, Fraction | None] = {}
    for p in players:  # a wallet's share of a player's value carries that share of its error
        total = sum(p["holders"].values())
        for wallet, rows in p["holders"].items():
            if p["standard_error"] is None or variance.get(wallet, 0) is None:
                variance[wallet] = None  # one sampled permutation: no spread to estimate
                continue
            share = Fraction(rows, total)
            variance[wallet] = variance.get(wallet, Fraction(0)) + (share * Fraction(p["standard_error"])) ** 2
    kept = rows_kept_by_wallet(predicate["contributions"])
    amounts = predicate["payouts"]["amounts"]
    return [
        {
            "wallet": wallet,
            "rows_kept": kept[wallet],
            "value": float(values.get(wallet, 0)),
            "standard_error": None if variance.get(wallet, 0) is None else float(variance.get(wallet, 0)) ** 0.5,
            "amount": int(amounts.get(wallet, "0")),
        }
        for wallet in sorted(kept)
    ]


def epoch_markdown(predicate: Mapping[str, Any]) -> str:
    valuation, payouts = predicate["valuation"], predicate["payouts"]
    lines = [
        f"### Reward epoch {predicate['epoch']}",
        "",
        f"{predicate['rows']['count']} new row(s) from {len(predicate['contributions'])} contribution(s), "
        f"{len(predicate['players'])} player(s), {valuation['method']} Shapley over {valuation['fits']} fit(s); "
        f"U(all) - U(none) = {valuation['u_all'] - valuation['u_empty']:.6f}, sum of values "
        f"{valuation['sum_values']:.6f} (efficiency gap {valuation['efficiency_gap']:.2e}).",
        f"Paid {payouts['total']} of a pool of {payouts['pool']}; payout root `{payouts['root']}`.",
        "",
        "| wallet | rows kept | value (share of positive players) | standard error | amount |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in wallet_rows(predicate):
        error = "n/a" if row["standard_error"] is None else f"{row['standard_error']:.6f}"
        lines.append(f"| `{row['wallet']}` | {row['rows_kept']} | {row['value']:.6f} | {error} | {row['amount']} |")
    lines += ["", "| contribution | wallet | received | kept | known | held earlier | repeated | leave-one-out |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    loo = predicate["leave_one_out"]
    for m in predicate["contributions"]:
        entry = loo.get(m["partition"])
        drop = "-" if m["partition"] not in loo else ("skipped (budget)" if entry is None else f"{entry['value']:.6f}")
        lines.append(
            f"| {m['partition']} | `{m['wallet']}` | {m['rows_received']} | {m['rows_kept']} | {m['rows_known']} | "
            f"{m['rows_held_earlier']} | {m['rows_repeated']} | {drop} |"
        )
    return "\n".join(lines) + "\n"


def harmful_markdown(harmful: Mapping[str, list[Mapping[str, Any]]]) -> str:
    if not harmful:
        return (
            "No harmful rows flagged (none had a negative KNN-Shapley value, the task is a regression, "
            "or rewards.harmful_rows is 0).\n"
        )
    lines = ["| contribution | row (content key) | KNN-Shapley |", "|---|---|---:|"]
    for owner, rows in harmful.items():
        lines += [f"| {owner} | `{r['row_key'][:16]}…` | {r['knn_shapley']:.6f} |" for r in rows]
    return "\n".join(lines) + "\n"


def values_plot_png(predicate: Mapping[str, Any]) -> bytes:
    """Bar chart: each wallet's value (with its standard error) and its share of the amount paid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = wallet_rows(predicate)
    labels = [f"{r['wallet'][:6]}…{r['wallet'][-4:]}" for r in rows]
    total = max(int(predicate["payouts"]["total"]), 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 0.5 * len(rows) + 2), sharey=True)
    errors = [r["standard_error"] or 0.0 for r in rows]  # n/a (one permutation) draws no bar
    left.barh(labels, [r["value"] for r in rows], xerr=errors, color="#4c72b0")
    left.axvline(0, color="black", linewidth=0.8)
    left.set_xlabel(f"value: share of the positive players' Shapley values ({predicate['valuation']['metric']})")
    right.barh(labels, [r["amount"] / total for r in rows], color="#55a868")
    right.set_xlabel("share of the amount paid")
    figure.suptitle(f"Reward epoch {predicate['epoch']}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()
