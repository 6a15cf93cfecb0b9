"""Payouts: a pool of token units split into integers that sum exactly to what is paid.

This module owns the one rule that turns the wallets' values into amounts a contract pays.

Contract
--------
* Values are converted exactly (``Fraction(value)``: a float is an exact binary rational);
  everything after that is integer and Fraction arithmetic, so no amount depends on float
  rounding and a pool far above 2**53 (10**30 token units) stays exact.
* Only positive values earn; a wallet whose value is zero or negative gets 0. When nobody
  is positive nothing is paid.
* ``distributable = min(pool, epoch_cap)``; each positive wallet's exact quota is
  ``distributable * v / sum(positive v)``.
* A per-wallet cap is applied by water-filling: wallets whose quota exceeds the cap get
  the cap, the excess is re-split in proportion among the others, until nobody exceeds
  it. If every positive wallet ends at the cap, the rest of the pool stays unallocated.
* Integers by largest remainder (Hamilton): the floor of each quota, then one unit each to
  the largest fractional parts, ties by wallet address (lowercase hex) ascending. Every
  amount is within one unit of its exact quota, no amount exceeds the cap, and the total
  equals ``distributable`` unless the cap binds every wallet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from numbers import Rational

from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.players import wallet_values

METHOD = "largest_remainder"


@dataclass(frozen=True)
class PayoutAllocation:
    """Integer amounts (the token's smallest unit) per wallet, and where the pool went."""

    amounts: dict[str, int]  # EIP-55 wallet -> amount; every wallet given, 0 included, sorted by wallet
    pool: int
    distributable: int  # min(pool, epoch_cap)
    total: int  # sum(amounts.values())
    unallocated: int  # pool - total
    method: str = METHOD

    def claims(self) -> list[tuple[str, int]]:
        """``(wallet, amount)`` of every wallet paid more than 0, in wallet order: what a payout tree holds."""
        return [(wallet, amount) for wallet, amount in self.amounts.items() if amount > 0]

    def as_dict(self) -> dict:
        """JSON-ready, integers as decimal strings: amounts can exceed 2**53, which RFC 8785 cannot write."""
        return {
            "method": self.method,
            "pool": str(self.pool),
            "distributable": str(self.distributable),
            "total": str(self.total),
            "unallocated": str(self.unallocated),
            "amounts": {wallet: str(amount) for wallet, amount in self.amounts.items()},
        }


def wallet_order(wallet: str) -> str:
    """The order of wallets everywhere in payouts: lowercase hex, so checksum case never matters."""
    return wallet.lower()


def check_wallet(wallet: object, *, code: str) -> str:
    """``wallet`` itself if it is an EIP-55 checksummed address, else RewardsError(code) saying how to fix it."""
    from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

    if not isinstance(wallet, str) or not is_hex_address(wallet):
        raise RewardsError(
            f"wallet {wallet!r} is not an Ethereum address; expected 0x followed by 40 hex digits",
            code=code,
        )
    if not is_checksum_address(wallet):
        raise RewardsError(
            f"wallet {wallet} is not in its EIP-55 checksummed form ({to_checksum_address(wallet)} if the digits "
            "are right); payouts hold only the checksummed wallets that intake recorded",
            code=code,
        )
    return wallet


def _non_negative_int(value: object, name: str, code: str) -> int:
    # bool is an int subclass, but True tokens is a bug, not a pool.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RewardsError(
            f"{name} must be a non-negative integer count of the token's smallest unit, got {value!r}",
            code=code,
        )
    return value


def _exact_value(wallet: str, value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (Rational, float, Decimal)):
        raise RewardsError(
            f"the value of wallet {wallet} is {value!r}; values must be numbers (int, float or Fraction)",
            code="E_PAYOUT_VALUE",
        )
    try:
        return Fraction(value)
    except (ValueError, OverflowError):
        raise RewardsError(
            f"the value of wallet {wallet} is {value!r}; NaN and infinity cannot be paid, fix the valuation",
            code="E_PAYOUT_VALUE",
        ) from None


def _water_fill(weights: Mapping[str, Fraction], distributable: int, cap: int | None) -> dict[str, Fraction]:
    """Exact quotas of the positive wallets, none above ``cap``; their sum is ``distributable``
    unless every wallet is capped."""
    quotas: dict[str, Fraction] = {}
    open_wallets = dict(weights)
    remaining = Fraction(distributable)
    while open_wallets:
        weight_sum = sum(open_wallets.values())
        share = {w: remaining * v / weight_sum for w, v in open_wallets.items()}
        over = [w for w, q in share.items() if cap is not None and q > cap]
        if not over:
            quotas.update(share)
            break
        # A wallet over the cap now stays over it once the excess is re-split (others only
        # grow), so all of them can be capped in one round.
        for wallet in over:
            quotas[wallet] = Fraction(cap)
            remaining -= cap
            del open_wallets[wallet]
    return quotas


def _largest_remainder(quotas: Mapping[str, Fraction]) -> dict[str, int]:
    amounts = {w: math.floor(q) for w, q in quotas.items()}
    # The quotas sum to an integer (distributable, or a whole number of caps), so the
    # leftover is a whole number of units, fewer than the wallets with a fractional part.
    target = sum(quotas.values())
    assert target.denominator == 1
    leftover = int(target) - sum(amounts.values())
    fractional = sorted(
        (w for w, q in quotas.items() if q != amounts[w]),
        key=lambda w: (-(quotas[w] - amounts[w]), wallet_order(w)),
    )
    # Only wallets with a fractional part get a unit: floor + 1 <= ceil(quota) <= cap.
    for wallet in fractional[:leftover]:
        amounts[wallet] += 1
    return amounts


def allocate(
    values: Mapping[str, float | Fraction],
    pool: int,
    *,
    wallet_cap: int | None = None,
    epoch_cap: int | None = None,
) -> PayoutAllocation:
    """Split ``pool`` (integer token units) among the wallets of ``values`` (see the module docstring)."""
    pool = _non_negative_int(pool, "pool", "E_PAYOUT_POOL")
    if wallet_cap is not None:
        _non_negative_int(wallet_cap, "wallet_cap", "E_PAYOUT_CAP")
    if epoch_cap is not None:
        _non_negative_int(epoch_cap, "epoch_cap", "E_PAYOUT_CAP")
    if not isinstance(values, Mapping):
        raise RewardsError(f"values must map wallet -> value, got {type(values).__name__}", code="E_PAYOUT_VALUES")
    # Keys of a mapping are unique, and an address has exactly one EIP-55 form, so checked
    # wallets are unique as addresses too: no two keys can name the same wallet.
    exact = {
        check_wallet(wallet, code="E_PAYOUT_WALLET"): _exact_value(wallet, value) for wallet, value in values.items()
    }

    # `epoch_cap or pool` would read a cap of 0 as no cap.
    distributable = pool if epoch_cap is None else min(pool, epoch_cap)
    positive = {w: v for w, v in exact.items() if v > 0}
    paid = _largest_remainder(_water_fill(positive, distributable, wallet_cap)) if positive else {}
    amounts = {w: paid.get(w, 0) for w in sorted(exact, key=wallet_order)}
    total = sum(amounts.values())
    return PayoutAllocation(
        amounts=amounts,
        pool=pool,
        distributable=distributable,
        total=total,
        unallocated=pool - total,
    )


def allocate_players(
    players: Sequence[Mapping],
    wallets: Iterable[str],
    pool: int,
    *,
    wallet_cap: int | None = None,
    epoch_cap: int | None = None,
) -> PayoutAllocation:
    """The epoch's amounts from its players (``value`` and ``holders`` each, as the statement
    records them): each wallet's exact share of the players' values, then :func:`allocate`.
    The one path from values to amounts: the payouts asset, the verifier and the re-run."""
    held = {p["player"]: p["holders"] for p in players}
    shares = wallet_values([p["value"] for p in players], held, wallets)
    return allocate(shares, pool, wallet_cap=wallet_cap, epoch_cap=epoch_cap)
