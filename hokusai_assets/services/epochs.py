"""Reward epochs on disk: closing one (its window), and gathering what it holds.

An epoch is closed by writing its window (``HOKUSAI_HOME/epochs/<epoch>/window.json``)
before its assets are materialised; the window then fixes its membership however often it
is materialised again. Its members are the attested contributions (a statement under
``attestations/``) received before the cutoff that no other epoch holds; their rows are
the validated tables the contribution chain stored. Rows of the baseline, the benchmark
and of epochs closed before it earn nothing (their content keys are "known").
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from hokusai_assets.lib.files import atomic_write_bytes
from hokusai_assets.lib.rewards.epoch_rows import ROW_KEY, EpochMember, content_keys
from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.window import EpochWindow, check_epoch_id, daily_window, manual_window
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.config import RewardsConfig
from hokusai_assets.settings.load import Settings

EPOCH_DOCUMENT = "reward_epoch"  # the asset whose document lists an epoch's members
EPOCH_ROWS = "epoch_rows"  # the asset whose table holds an epoch's new rows


def rewards_config(settings: Settings) -> RewardsConfig:
    """The rewards section, or a clear refusal: without one, rewards fail closed and nothing is paid."""
    if settings.config.rewards is None:
        raise RewardsError(
            f"{settings.config_path}: no rewards section, so no epoch can be closed and nothing is paid; add "
            "rewards: {pool: <integer amount in the token's smallest unit>} (README, 'Rewards')",
            code="E_REWARDS_NOT_CONFIGURED",
        )
    return settings.config.rewards


def read_window(settings: Settings, epoch: str) -> EpochWindow:
    path = settings.layout.epoch_window_file(check_epoch_id(epoch))
    if not path.is_file():
        raise RewardsError(
            f"epoch {epoch} has not been closed ({path} is missing); close it with `hokusai epoch close`",
            code="E_EPOCH_NOT_CLOSED",
        )
    return EpochWindow.from_dict(json.loads(path.read_text(encoding="utf-8")))


def closed_windows(settings: Settings) -> list[EpochWindow]:
    """Every closed epoch, in cutoff order."""
    directory = settings.layout.epochs_dir
    paths = sorted(directory.glob("*/window.json")) if directory.is_dir() else []
    windows = [EpochWindow.from_dict(json.loads(p.read_text(encoding="utf-8"))) for p in paths]
    return sorted(windows, key=lambda w: (w.received_before, w.epoch))


def close_window(settings: Settings, *, day: date | None = None, now: datetime | None = None) -> EpochWindow:
    """Close the next epoch: in manual mode the next ``e-NNNN`` now; in daily mode ``day``
    (default yesterday, UTC). A daily epoch closed before is returned as it was."""
    config = rewards_config(settings)
    now = now or datetime.now(timezone.utc)
    if config.epoch == "daily":
        window = daily_window(day or (now.date() - timedelta(days=1)))
        if _micros_now(now) < window.received_before:
            raise RewardsError(f"{window.epoch} is not over yet; close a day that has ended", code="E_EPOCH_OPEN")
    else:
        if day is not None:
            raise RewardsError("--day is for daily epochs; this task has rewards.epoch: manual", code="E_EPOCH_MODE")
        window = manual_window([w.epoch for w in closed_windows(settings)], now)
    path = settings.layout.epoch_window_file(window.epoch)
    if path.is_file():
        return read_window(settings, window.epoch)
    atomic_write_bytes(path, (json.dumps(window.as_dict(), indent=2, sort_keys=True) + "\n").encode())
    return window


def _micros_now(now: datetime) -> int:
    return (now - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def _members_elsewhere(settings: Settings, epoch: str) -> set[str]:
    held: set[str] = set()
    for window in closed_windows(settings):
        document = settings.layout.document_file(EPOCH_DOCUMENT, window.epoch)
        if window.epoch != epoch and document.is_file():
            held |= {m["partition"] for m in json.loads(document.read_text(encoding="utf-8"))["contributions"]}
    return held


def epoch_members(settings: Settings, store: ContributionStore, window: EpochWindow) -> list[EpochMember]:
    """The attested contributions received before the window's cutoff that no other epoch holds."""
    layout = settings.layout
    elsewhere = _members_elsewhere(settings, window.epoch)
    members = []
    for entry in store.entries():
        if entry.sequence >= window.received_before or entry.key in elsewhere:
            continue
        if not layout.attestation(entry.key).statement.is_file():
            continue  # rejected, or still being evaluated: not (yet) an accepted contribution
        rows = pd.read_parquet(layout.table_file("validated_contribution", entry.key))
        members.append(EpochMember(entry.key, entry.sequence, entry.contributor.wallet, rows))
    return members


def known_keys(settings: Settings, baseline: pd.DataFrame, benchmark: pd.DataFrame, window: EpochWindow) -> set[str]:
    """Content keys of rows that earn nothing in ``window``: the baseline's, the benchmark's, earlier epochs'."""
    decimals = rewards_config(settings).float_decimals
    schema = settings.schema
    known = set(content_keys(baseline, schema, decimals)) | set(content_keys(benchmark, schema, decimals))
    for earlier in closed_windows(settings):
        if (earlier.received_before, earlier.epoch) >= (window.received_before, window.epoch):
            break
        table = settings.layout.table_file(EPOCH_ROWS, earlier.epoch)
        if table.is_file():
            known |= set(pd.read_parquet(table, columns=[ROW_KEY])[ROW_KEY])
    return known


def epoch_ids(settings: Settings) -> list[str]:
    return [w.epoch for w in closed_windows(settings)]


def epoch_directory(settings: Settings, epoch: str) -> Path:
    return settings.layout.epoch_dir(check_epoch_id(epoch))
