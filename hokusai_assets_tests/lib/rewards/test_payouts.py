"""Integer payouts (lib/rewards/payouts.py): exact quotas, caps and largest remainder.

Expected amounts are worked out by hand in the comments, or compared with a reference
written here in a different form (caps by sorting wallets by value, not by rounds of
water-filling), never taken from the code under test.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from fractions import Fraction

import pytest
import rfc8785
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.payouts import PayoutAllocation, allocate


def wallet(n: int) -> str:
    """The EIP-55 form of address n: wallets order by n (lowercase hex order)."""
    return to_checksum_address(f"0x{n:040x}")


A, B, C, D = wallet(0xA1), wallet(0xB2), wallet(0xC3), wallet(0xD4)


def reference_quotas(values: dict, distributable: int, cap: int | None) -> dict[str, Fraction]:
    """Exact capped quotas: cap the k largest values for the smallest k that leaves nobody above the cap."""
    positive = {w: Fraction(v) for w, v in values.items() if Fraction(v) > 0}
    quotas = {w: Fraction(0) for w in values}
    if not positive:
        return quotas
    by_value = sorted(positive, key=positive.__getitem__, reverse=True)
    for k in range(len(by_value) + 1):
        capped, rest = by_value[:k], by_value[k:]
        if not rest:
            return {**quotas, **{w: Fraction(cap) for w in capped}}
        level = (distributable - k * (cap or 0)) / sum(positive[w] for w in rest)
        if cap is None or level * positive[rest[0]] <= cap:
            return {**quotas, **{w: Fraction(cap) for w in capped}, **{w: level * positive[w] for w in rest}}
    raise AssertionError("unreachable")


# ----------------------------------------------------------------- sums and rounding


def test_equal_thirds_sum_to_the_pool_and_the_spare_unit_goes_to_the_lowest_address():
    # 100 / 3 = 33.33 each: floors sum to 99, one unit left, fractional parts tie.
    allocation = allocate({C: 1.0, A: 1.0, B: 1.0}, 100)
    assert allocation.amounts == {A: 34, B: 33, C: 33}
    assert list(allocation.amounts) == [A, B, C]
    assert (allocation.total, allocation.distributable, allocation.unallocated) == (100, 100, 0)
    assert allocation.method == "largest_remainder"


def test_leftover_units_go_to_the_largest_fractional_parts():
    # Quotas 10/7, 20/7, 40/7 = 1.43, 2.86, 5.71: floors 1 + 2 + 5 = 8, two units left for
    # the two largest fractions (.86 and .71), not for the largest wallet first.
    allocation = allocate({A: 1, B: 2, C: 4}, 10)
    assert allocation.amounts == {A: 1, B: 3, C: 6}


def test_ties_compare_lowercase_hex_not_the_checksum_case():
    low, high = wallet(0x0B), wallet(0x0C)
    assert low > high, "precondition: EIP-55 case makes the raw strings sort the other way"
    assert allocate({high: 1, low: 1}, 1).amounts == {low: 1, high: 0}


def test_insertion_order_does_not_change_anything():
    values = {A: 0.3, B: Fraction(1, 7), C: 2, D: 0.3}
    forward = allocate(values, 1_000_003, wallet_cap=400_000)
    backward = allocate(dict(reversed(list(values.items()))), 1_000_003, wallet_cap=400_000)
    assert forward == backward


def test_float_values_are_taken_exactly():
    # 0.1 and 0.3 are binary rationals not quite in a 1:3 ratio: A's exact quota is about
    # 6938.9 units above a quarter of the pool, which float arithmetic (0.1 / 0.4 == 0.25)
    # would round away.
    pool = 4 * 10**20
    exact = pool * Fraction(0.1) / (Fraction(0.1) + Fraction(0.3))
    assert 6938 < exact - pool // 4 < 6939
    allocation = allocate({A: 0.1, B: 0.3}, pool)
    assert allocation.amounts[A] in (math.floor(exact), math.ceil(exact))
    assert allocation.total == pool


def test_decimal_and_fraction_values_are_exact_too():
    allocation = allocate({A: Decimal("0.5"), B: Fraction(1, 2), C: 1}, 8)
    assert allocation.amounts == {A: 2, B: 2, C: 4}


def test_a_huge_pool_stays_exact():
    # 10**30 = 3 * 333...333 (30 digits) + 1.
    allocation = allocate({A: 1.0, B: 1.0, C: 1.0}, 10**30)
    third = int("3" * 30)
    assert allocation.amounts == {A: third + 1, B: third, C: third}
    assert allocation.total == 10**30


# ----------------------------------------------------------------- who is paid


def test_non_positive_values_get_nothing_and_stay_listed():
    # Only A (3) and D (1) are positive: 8 * 3/4 = 6 and 8 * 1/4 = 2.
    allocation = allocate({A: 3, B: 0.0, C: -2.5, D: 1}, 8)
    assert allocation.amounts == {A: 6, B: 0, C: 0, D: 2}
    assert allocation.claims() == [(A, 6), (D, 2)]


def test_nobody_positive_means_nothing_is_paid():
    allocation = allocate({A: 0, B: -1.0}, 100)
    assert allocation.amounts == {A: 0, B: 0}
    assert (allocation.total, allocation.unallocated, allocation.distributable) == (0, 100, 100)
    assert allocation.claims() == []
    empty = allocate({}, 100)
    assert (empty.amounts, empty.total, empty.unallocated) == ({}, 0, 100)


def test_a_tiny_positive_value_among_large_ones_is_paid_by_its_share_only():
    allocation = allocate({A: 5e-324, B: 1e300}, 10**6)
    assert allocation.amounts == {A: 0, B: 10**6}


# ----------------------------------------------------------------- caps


def test_epoch_cap_limits_what_is_distributed():
    allocation = allocate({A: 1, B: 1}, 1000, epoch_cap=600)
    assert allocation.amounts == {A: 300, B: 300}
    assert (allocation.distributable, allocation.total, allocation.unallocated) == (600, 600, 400)
    assert allocate({A: 1}, 1000, epoch_cap=5000).distributable == 1000


def test_an_epoch_cap_of_zero_pays_nothing():
    allocation = allocate({A: 1, B: 1}, 1000, epoch_cap=0)
    assert allocation.amounts == {A: 0, B: 0}
    assert (allocation.distributable, allocation.unallocated) == (0, 1000)


def test_wallet_cap_excess_is_resplit_among_the_others():
    # Quotas 60, 30, 10; A is capped at 50 and its 10 extra go 3:1 to B and C: 37.5 and
    # 12.5. Floors 37 + 12, one unit left, fractions tie at .5: B has the lower address.
    allocation = allocate({A: 6, B: 3, C: 1}, 100, wallet_cap=50)
    assert allocation.amounts == {A: 50, B: 38, C: 12}
    assert allocation.total == 100


def test_wallet_cap_cascades_until_nobody_is_above_it():
    # Quotas 58.8, 29.4, 5.9, 5.9 with cap 30: A capped; 70 left 5:1:1 gives B 50, so B is
    # capped too; 40 left for C and D: 20 each.
    allocation = allocate({A: 10, B: 5, C: 1, D: 1}, 100, wallet_cap=30)
    assert allocation.amounts == {A: 30, B: 30, C: 20, D: 20}
    assert allocation.unallocated == 0


def test_when_the_cap_binds_everyone_the_rest_stays_unallocated():
    allocation = allocate({A: 1, B: 2, C: 0}, 100, wallet_cap=30)
    assert allocation.amounts == {A: 30, B: 30, C: 0}
    assert (allocation.total, allocation.unallocated) == (60, 40)
    nothing = allocate({A: 1, B: 2}, 100, wallet_cap=0)
    assert (nothing.total, nothing.unallocated) == (0, 100)


def test_a_spare_unit_never_lifts_a_wallet_over_its_cap():
    # Quotas 7/3 each, cap 3: nobody is above the cap, so 7 is split 3, 2, 2.
    allocation = allocate({A: 1, B: 1, C: 1}, 7, wallet_cap=3)
    assert allocation.amounts == {A: 3, B: 2, C: 2}


# ----------------------------------------------------------------- the record


def test_as_dict_writes_integers_as_decimal_strings_that_rfc8785_accepts():
    allocation = allocate({B: 1, A: 3}, 4 * 10**24)
    document = allocation.as_dict()
    assert document == {
        "method": "largest_remainder",
        "pool": str(4 * 10**24),
        "distributable": str(4 * 10**24),
        "total": str(4 * 10**24),
        "unallocated": "0",
        "amounts": {A: str(3 * 10**24), B: str(10**24)},
    }
    assert json.loads(rfc8785.dumps(document)) == document
    assert isinstance(allocation, PayoutAllocation)


# ----------------------------------------------------------------- properties

_value = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.fractions(),
    st.integers(min_value=-(10**6), max_value=10**6),
)
_values = st.dictionaries(st.integers(min_value=1, max_value=2**160 - 1).map(wallet), _value, max_size=12)
_amount = st.integers(min_value=0, max_value=10**30)


@settings(max_examples=300, deadline=None)
@given(values=_values, pool=_amount, wallet_cap=st.none() | _amount, epoch_cap=st.none() | _amount)
def test_totals_and_every_amount_within_one_unit_of_its_exact_quota(values, pool, wallet_cap, epoch_cap):
    allocation = allocate(values, pool, wallet_cap=wallet_cap, epoch_cap=epoch_cap)
    distributable = pool if epoch_cap is None else min(pool, epoch_cap)
    positive = sum(1 for v in values.values() if Fraction(v) > 0)
    if positive == 0:
        expected_total = 0
    elif wallet_cap is None:
        expected_total = distributable
    else:
        expected_total = min(distributable, wallet_cap * positive)
    assert allocation.distributable == distributable
    assert allocation.total == sum(allocation.amounts.values()) == expected_total
    assert allocation.unallocated == pool - expected_total
    assert list(allocation.amounts) == sorted(values, key=str.lower)
    quotas = reference_quotas(values, distributable, wallet_cap)
    for w, amount in allocation.amounts.items():
        assert isinstance(amount, int) and amount >= 0
        assert abs(amount - quotas[w]) < 1, (w, amount, quotas[w])
        assert wallet_cap is None or amount <= wallet_cap
        if Fraction(values[w]) <= 0:
            assert amount == 0


@settings(max_examples=200, deadline=None)
@given(values=_values, pool=_amount)
def test_more_value_never_gets_less(values, pool):
    amounts = allocate(values, pool).amounts
    for u in values:
        for w in values:
            if Fraction(values[u]) > Fraction(values[w]):
                assert amounts[u] >= amounts[w]


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"pool": -1}, "E_PAYOUT_POOL"),
        ({"pool": 1.5}, "E_PAYOUT_POOL"),
        ({"pool": True}, "E_PAYOUT_POOL"),
        ({"pool": "100"}, "E_PAYOUT_POOL"),
        ({"pool": 100, "wallet_cap": -1}, "E_PAYOUT_CAP"),
        ({"pool": 100, "wallet_cap": 2.0}, "E_PAYOUT_CAP"),
        ({"pool": 100, "epoch_cap": False}, "E_PAYOUT_CAP"),
        ({"pool": 100, "epoch_cap": -5}, "E_PAYOUT_CAP"),
    ],
)
def test_bad_pool_or_caps_are_refused(kwargs, code):
    with pytest.raises(RewardsError) as caught:
        allocate({A: 1}, **kwargs)
    assert caught.value.code == code
    assert "non-negative integer" in caught.value.message


@pytest.mark.parametrize(
    ("values", "code", "hint"),
    [
        ({"alice": 1}, "E_PAYOUT_WALLET", "not an Ethereum address"),
        ({A.lower(): 1}, "E_PAYOUT_WALLET", A),  # the message names the checksummed form
        ({A[:-1]: 1}, "E_PAYOUT_WALLET", "40 hex digits"),
        ({7: 1}, "E_PAYOUT_WALLET", "not an Ethereum address"),
        ({A: float("nan")}, "E_PAYOUT_VALUE", "NaN"),
        ({A: float("inf")}, "E_PAYOUT_VALUE", "NaN and infinity"),
        ({A: "1"}, "E_PAYOUT_VALUE", "must be numbers"),
        ({A: True}, "E_PAYOUT_VALUE", "must be numbers"),
        ({A: None}, "E_PAYOUT_VALUE", "must be numbers"),
        ([(A, 1)], "E_PAYOUT_VALUES", "wallet -> value"),
    ],
)
def test_bad_values_are_refused_with_a_code_and_a_fix(values, code, hint):
    with pytest.raises(RewardsError) as caught:
        allocate(values, 100)
    assert caught.value.code == code
    assert hint in caught.value.message
    assert isinstance(caught.value, HokusaiError)
