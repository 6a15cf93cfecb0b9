"""Verify a reward epoch from its files alone: signatures, then every number re-derived.

Given the envelope, the EIP-712 JSON, the attester's public keys and (optionally) the
payout tree dump, :func:`verify_epoch` checks, in order: the envelope and its Ed25519
signature (exactly one); the statement's form; the EIP-712 signer, its domain, and that it
signed this statement's epoch, root, total and digest; that the valuation's seed and budget
are the signed rewards section's, that the method follows from them, and that the fits and
leave-one-out fits stay within ``max_fits``; the players' values from replaying the whole
valuation on the recorded coalition utilities (exact Shapley, or the seeded Monte Carlo with
its stopping rule); the row accounts; the amounts recomputed by largest remainder; and the
payout root rebuilt from the amounts, with every wallet's proof checked against it and
``payout-tree.json``, when given, exactly that tree. ``--rerun`` (services) goes
further and retrains every coalition.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from hokusai_assets.lib.attestation.bundle import EIP712_FILE
from hokusai_assets.lib.attestation.verify.base import Check, Context, Failed, VerificationReport, readable, require
from hokusai_assets.lib.attestation.verify.signed_checks import check_envelope_format, check_envelope_signature
from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.rewards.epoch_rows import rows_kept_by_wallet
from hokusai_assets.lib.rewards.payout_tree import PayoutTree, verify_payout_proof
from hokusai_assets.lib.rewards.payouts import allocate_players
from hokusai_assets.lib.rewards.shapley import EXACT, TRUNCATED_MONTE_CARLO, shapley_values
from hokusai_assets.lib.rewards.signing import epoch_typed_data, recover_epoch_signer
from hokusai_assets.lib.rewards.statement import read_epoch_statement


class _EpochContext(Context):
    predicate: dict | None = None
    tree_dump: Any = None


def _statement(ctx: _EpochContext) -> str:
    try:
        statement = json.loads(ctx.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Failed(f"the payload is not UTF-8 JSON ({exc})") from None
    try:
        require(canonical_json(statement) == ctx.payload, "the payload is not the RFC 8785 bytes of the statement")
        ctx.predicate = read_epoch_statement(statement)
    except HokusaiError as exc:
        raise Failed(exc.message) from None
    ctx.statement = statement
    return f"reward-epoch statement of {ctx.predicate['epoch']}"


def _eip712(ctx: _EpochContext) -> str:
    from hokusai_assets.lib.attestation.eip712 import Eip712Domain

    eip712 = readable(ctx.eip712)
    require(
        isinstance(eip712, Mapping) and {"signature", "signer", "domain", "message"} <= set(eip712),
        f"the EIP-712 JSON ({EIP712_FILE}) must be an object with types, primaryType, domain, message, signature "
        "and signer",
    )
    try:
        signer = recover_epoch_signer(eip712)
        domain = Eip712Domain.from_typed_data(eip712["domain"])
    except HokusaiError as exc:
        raise Failed(f"{EIP712_FILE}: {exc.message}") from None
    expected = ctx.trusted.get("attester_address") if ctx.trusted else None
    require(signer == expected, f"the EIP-712 signer is {signer}, not the trusted attester {expected!r}")
    require(eip712["signer"] == signer, f"the signature recovers to {signer}, not to the named signer")
    published = ctx.trusted.get("eip712_domain")
    require(published is None or eip712["domain"] == published, "the signed domain is not the attester's published one")
    typed = epoch_typed_data(ctx.predicate, bytes_digest(ctx.payload), domain)
    require(
        eip712["message"] == typed["message"],
        "the signed epoch, root, total or statement digest is not this statement's",
    )
    return f"signed by the attester {signer}: epoch, payout root, total and statement digest"


def _utility_table(coalitions: list) -> dict[frozenset[int], float]:
    return {frozenset(c["players"]): c["utility"] for c in coalitions}


def _values(ctx: _EpochContext) -> str:
    predicate = ctx.predicate
    valuation, players, rewards = predicate["valuation"], predicate["players"], predicate["rewards"]
    n = len(players)
    utilities = _utility_table(predicate["coalitions"])
    unbound = [key for key in ("seed", "max_fits", "exact_max", "truncation") if valuation[key] != rewards[key]]
    require(not unbound, f"the valuation's {', '.join(unbound)} differ from the signed rewards section")
    grand = next((c for c in predicate["coalitions"] if len(c["players"]) == n), None)
    require(
        grand is not None and grand["model_digest"] == predicate["epoch_model"]["model_digest"],
        "the epoch model is not the model of the coalition of every player",
    )
    exact = n <= valuation["exact_max"] and 2**n <= valuation["max_fits"]
    require(
        valuation["method"] == (EXACT if exact else TRUNCATED_MONTE_CARLO),
        f"{n} players within {valuation['max_fits']} fits are valued {'exactly' if exact else 'by sampling'}, "
        f"not {valuation['method']}",
    )
    loo = predicate["leave_one_out"]
    spent = valuation["fits"] + sum(entry is not None for entry in loo.values())
    require(
        valuation["fits"] == len(utilities) and spent <= valuation["max_fits"],
        f"{len(utilities)} coalitions recorded, {valuation['fits']} stated, {spent} fits in all "
        f"of {valuation['max_fits']} allowed",
    )
    require(
        utilities.get(frozenset()) == valuation["u_empty"] and utilities.get(frozenset(range(n))) == valuation["u_all"],
        "u_empty or u_all is not the recorded utility of the empty or the full coalition",
    )

    def recorded(coalition: frozenset[int]) -> float:
        if coalition not in utilities:
            raise Failed(f"the valuation needs coalition {sorted(coalition)}, which is not recorded")
        return utilities[coalition]

    try:  # the whole valuation again, on the recorded utilities: same method, stops, orders
        replay = shapley_values(
            n,
            recorded,
            exact_max=valuation["exact_max"],
            max_fits=valuation["max_fits"],
            seed=valuation["seed"],
            truncation=valuation["truncation"],
        )
    except HokusaiError as exc:
        raise Failed(exc.message) from None
    orders = [list(order) for order in replay.orders]
    require(
        orders == valuation["orders"] and replay.permutations == valuation["permutations"],
        f"the sampled orders are not the {replay.permutations} permutations seed {valuation['seed']} "
        "gives within the budget",
    )
    require(set(replay.utilities) == set(utilities), "the recorded coalitions are not exactly those the valuation fits")
    errors = tuple(None if math.isinf(e) else e for e in replay.standard_errors)
    stated = tuple(p["value"] for p in players)
    require(replay.values == stated, f"recomputed values {list(replay.values)} differ from the stated {list(stated)}")
    require(errors == tuple(p["standard_error"] for p in players), "recomputed standard errors differ from the stated")
    total = math.fsum(replay.values)
    require(
        valuation["sum_values"] == total and valuation["efficiency_gap"] == replay.efficiency_gap,
        "the stated sum of values or efficiency gap is not that of the values",
    )
    for partition, entry in loo.items():
        require(
            entry is None or entry["value"] == valuation["u_all"] - entry["without"]["utility"],
            f"{partition}'s leave-one-out value is not U(all) minus its fit's utility",
        )
    method = valuation["method"]
    return f"{n} player value(s) recomputed bit for bit from {len(utilities)} recorded coalition utilities ({method})"


def _accounts(ctx: _EpochContext) -> str:
    predicate = ctx.predicate
    kept_by_wallet = rows_kept_by_wallet(predicate["contributions"])
    held_by_wallet: dict[str, int] = {}
    for player in predicate["players"]:
        require(
            sum(player["holders"].values()) == player["rows"],
            f"player {player['player']}'s holders do not add up to its rows",
        )
        for wallet, rows in player["holders"].items():
            held_by_wallet[wallet] = held_by_wallet.get(wallet, 0) + rows
    require(
        sum(kept_by_wallet.values()) == predicate["rows"]["count"],
        "the contributions' kept rows do not add up to the epoch's rows",
    )
    require(
        {w: r for w, r in kept_by_wallet.items() if r} == held_by_wallet,
        "the players' holders do not match the wallets' kept rows",
    )
    rows, members, players = predicate["rows"]["count"], len(predicate["contributions"]), len(predicate["players"])
    return f"{rows} new row(s) across {members} contribution(s) and {players} player(s)"


def _amounts(ctx: _EpochContext) -> str:
    predicate = ctx.predicate
    payouts, rewards = predicate["payouts"], predicate["rewards"]
    allocation = allocate_players(
        predicate["players"],
        [c["wallet"] for c in predicate["contributions"]],
        int(rewards["pool"]),
        wallet_cap=None if rewards["wallet_cap"] is None else int(rewards["wallet_cap"]),
        epoch_cap=None if rewards["epoch_cap"] is None else int(rewards["epoch_cap"]),
    )
    recomputed = allocation.as_dict()
    for key in ("pool", "distributable", "total", "unallocated", "amounts"):
        require(
            recomputed[key] == payouts[key], f"payouts.{key}: stated {payouts[key]!r}, recomputed {recomputed[key]!r}"
        )
    count = len(recomputed["amounts"])
    return f"{count} amount(s) recomputed by largest remainder, total {payouts['total']} of {payouts['pool']}"


def paid(payouts: Mapping) -> list[tuple[str, int]]:
    """The (wallet, amount) leaves of the payout tree: every wallet paid more than 0."""
    return [(wallet, int(amount)) for wallet, amount in payouts["amounts"].items() if int(amount) > 0]


def _root(ctx: _EpochContext) -> str:
    payouts = ctx.predicate["payouts"]
    leaves = paid(payouts)
    if not leaves:
        require(payouts["root"] is None, "nobody is paid, yet a payout root is stated")
        return "nobody is paid: no payout tree"
    tree = PayoutTree.build(leaves)
    require(
        tree.root == payouts["root"], f"the payout root rebuilt from the amounts is {tree.root}, not {payouts['root']}"
    )
    if ctx.tree_dump is not None:  # a file that should be there but is not fails here, saying so
        require(readable(ctx.tree_dump) == tree.dump(), "payout-tree.json is not the tree of the stated amounts")
    bad = [w for w, amount in leaves if not verify_payout_proof(tree.root, w, amount, tree.proof(w))]
    require(not bad, f"proofs fail for {', '.join(bad)}")
    return f"payout root {tree.root} rebuilt; {len(leaves)} proof(s) verify"


CHECKS: tuple[tuple[str, Callable[[_EpochContext], str]], ...] = (
    ("envelope_format", check_envelope_format),
    # Exactly one signature, the attester's: the same strict check as a contribution's envelope.
    ("envelope_signature", check_envelope_signature),
    ("statement_format", _statement),
    ("eip712_signature", _eip712),
    ("values", _values),
    ("row_accounts", _accounts),
    ("amounts", _amounts),
    ("payout_root", _root),
)


def verify_epoch(
    envelope_bytes: bytes, eip712: Any, *, trusted: Mapping[str, Any], tree_dump: Any = None
) -> VerificationReport:
    """Every check, in order; the first that fails stops the rest (they would build on it)."""
    ctx = _EpochContext(envelope_bytes=envelope_bytes, eip712=eip712, trusted=trusted, data_file=None, model_file=None)
    ctx.tree_dump = tree_dump
    report = VerificationReport()
    for name, check in CHECKS:
        try:
            report.checks.append(Check(name, True, check(ctx)))
        except Failed as failure:
            report.checks.append(Check(name, False, str(failure)))
            break
        except HokusaiError as exc:  # a recorded value our own rules refuse (a wallet, an amount...)
            report.checks.append(Check(name, False, exc.message))
            break
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            report.checks.append(Check(name, False, f"malformed statement ({type(exc).__name__}: {exc})"))
            break
    report.statement = ctx.statement
    return report
