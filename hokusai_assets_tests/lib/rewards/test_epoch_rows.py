"""Which rows an epoch pays for: new content only, each row once, to its earliest holder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.rewards.epoch_rows import OWNER, ROW_KEY, EpochMember, content_keys, epoch_rows
from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.window import EPOCH_ID_RE, check_epoch_id, daily_window, manual_window
from hokusai_assets.lib.task import TaskSchema

SCHEMA = TaskSchema("classification", "label", "int", (("x", "float"), ("n", "int")))
WALLETS = ["0x" + f"{i:040x}" for i in range(1, 6)]


def frame(rows: list[tuple[float, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["x", "n", "label"])


def member(key: str, sequence: int, rows, wallet: str = WALLETS[0]) -> EpochMember:
    return EpochMember(key, sequence, wallet, frame(rows))


def test_content_keys_ignore_float_noise_below_the_precision_and_nothing_else():
    base = frame([(0.1, 1, 0), (0.1, 1, 1), (0.1, 2, 0)])
    nudged = frame([(0.1 + 1e-9, 1, 0), (0.1, 1, 1), (0.1, 2, 0)])
    assert content_keys(base, SCHEMA, 6) == content_keys(nudged, SCHEMA, 6)
    assert content_keys(base, SCHEMA, 12) != content_keys(nudged, SCHEMA, 12)
    assert len(set(content_keys(base, SCHEMA, 6))) == 3  # label and int feature still tell rows apart


def test_earliest_received_holds_a_shared_row_and_later_copies_earn_nothing():
    shared = (1.0, 1, 0)
    late = member("c-b", 20, [shared, (2.0, 2, 1)], WALLETS[1])
    early = member("c-a", 10, [shared, (3.0, 3, 0)], WALLETS[0])
    table, accounts = epoch_rows([late, early], SCHEMA, set(), 6)
    owner_of = dict(zip(table["x"], table[OWNER]))
    assert owner_of[1.0] == "c-a"
    assert [a.partition for a in accounts] == ["c-a", "c-b"]
    assert (accounts[0].rows_kept, accounts[1].rows_kept, accounts[1].rows_held_earlier) == (2, 1, 1)


def test_receipt_ties_are_broken_by_partition_key():
    table, _ = epoch_rows([member("c-b", 5, [(1.0, 1, 0)]), member("c-a", 5, [(1.0, 1, 0)])], SCHEMA, set(), 6)
    assert table[OWNER].tolist() == ["c-a"]


def test_known_rows_and_repeats_earn_nothing():
    known = set(content_keys(frame([(9.0, 9, 1)]), SCHEMA, 6))
    table, [account] = epoch_rows(
        [member("c-a", 1, [(9.0, 9, 1), (1.0, 1, 0), (1.0000000001, 1, 0)])], SCHEMA, known, 6
    )
    assert len(table) == 1
    assert (account.rows_received, account.rows_kept, account.rows_known, account.rows_repeated) == (3, 1, 1, 1)


def test_table_is_in_content_order_whatever_the_arrival_order():
    rng = np.random.default_rng(0)
    rows = [(float(v), int(i % 3), int(i % 2)) for i, v in enumerate(rng.normal(size=40))]
    one, _ = epoch_rows([member("c-a", 1, rows)], SCHEMA, set(), 6)
    split = [member(f"c-{i}", i, rows[i::4], WALLETS[i]) for i in range(4)]
    four, _ = epoch_rows(list(reversed(split)), SCHEMA, set(), 6)
    assert one[ROW_KEY].is_monotonic_increasing
    pd.testing.assert_frame_equal(one.drop(columns=OWNER), four.drop(columns=OWNER))


def test_an_empty_epoch_is_an_empty_table_with_the_tasks_types():
    table, accounts = epoch_rows([], SCHEMA, set(), 6)
    assert len(table) == 0 and accounts == []
    assert list(table.columns) == ["x", "n", "label", OWNER, ROW_KEY]
    assert [str(t) for t in table.dtypes[:3]] == ["float64", "int64", "int64"]  # trains beside the baseline as is


def test_an_id_column_does_not_make_a_copy_new():
    schema = TaskSchema("classification", "label", "int", (("x", "float"), ("n", "int")), id_column="row_id")
    original = frame([(1.0, 1, 0), (2.0, 2, 1)]).assign(row_id=["a", "b"])
    copy = original.assign(row_id=["z", "y"])
    table, accounts = epoch_rows(
        [EpochMember("c-a", 1, WALLETS[0], original), EpochMember("c-b", 2, WALLETS[1], copy)], schema, set(), 6
    )
    assert table[OWNER].tolist() == ["c-a", "c-a"] and accounts[1].rows_held_earlier == 2
    known = set(content_keys(original, schema, 6))
    _, [account] = epoch_rows([EpochMember("c-c", 3, WALLETS[2], copy)], schema, known, 6)
    assert account.rows_known == 2 and account.rows_kept == 0


def test_epoch_windows_and_ids():
    from datetime import date, datetime, timezone

    day = daily_window(date(2026, 12, 1))
    assert day.epoch == "d-2026-12-01"
    assert day.received_before == int(datetime(2026, 12, 2, tzinfo=timezone.utc).timestamp()) * 1_000_000
    assert manual_window([], datetime.now(timezone.utc)).epoch == "e-0001"
    assert manual_window(["e-0001", "e-0009", "d-2026-01-01"], datetime.now(timezone.utc)).epoch == "e-0010"
    assert EPOCH_ID_RE.fullmatch("e-0001") and not EPOCH_ID_RE.fullmatch("../e-1")
    with pytest.raises(RewardsError) as error:
        check_epoch_id("e-1/../../x")
    assert error.value.code == "E_EPOCH_ID"
