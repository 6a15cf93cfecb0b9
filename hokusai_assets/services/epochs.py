"""Reward epochs on disk: closing one (its window), and gathering what it holds.

An epoch is closed by writing its window (``HOKUSAI_HOME/epochs/<epoch>/window.json``)
before its assets are materialised. Its members are the attested contributions (a
statement under ``attestations/``) received before the cutoff that no other epoch holds,
decided on its first run and kept in ``members.json``, so materialising it again values
the same contributions; their rows are the validated tables the contribution chain stored.
A manual epoch closed but never attested (its run failed) is closed again, at the new
moment, before another is opened: nothing was paid for it. Rows of the baseline, the
benchmark and of epochs whose members were decided before it earn nothing (their content
keys are "known").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.files import atomic_write_bytes
from hokusai_assets.lib.rewards.epoch_rows import ROW_KEY, EpochMember, content_keys, epoch_rows, task_rows
from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.window import EpochWindow, check_epoch_id, daily_window, manual_window, micros
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.config import RewardsConfig
from hokusai_assets.settings.load import Settings

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


def _window_at(path: Path) -> EpochWindow:
    try:
        window = EpochWindow.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if (
            window.epoch != path.parent.name
            or isinstance(window.received_before, bool)
            or not isinstance(window.received_before, int)
        ):
            raise ValueError("it names another epoch or has no integer cutoff")
    except (OSError, UnicodeDecodeError, ValueError, RewardsError) as exc:
        detail = exc.message if isinstance(exc, RewardsError) else f"{type(exc).__name__}: {exc}"
        raise RewardsError(
            f"{path} is not a readable epoch window ({detail}); restore it, or delete the epoch's folder "
            "if it was never attested, then close the epoch again",
            code="E_EPOCH_WINDOW",
        ) from None
    return window


def read_window(settings: Settings, epoch: str) -> EpochWindow:
    path = settings.layout.epoch_window_file(check_epoch_id(epoch))
    if not path.is_file():
        raise RewardsError(
            f"epoch {epoch} has not been closed ({path} is missing); close it with `hokusai epoch close`",
            code="E_EPOCH_NOT_CLOSED",
        )
    return _window_at(path)


def closed_windows(settings: Settings) -> list[EpochWindow]:
    """Every closed epoch, in cutoff order."""
    directory = settings.layout.epochs_dir
    paths = sorted(directory.glob("*/window.json")) if directory.is_dir() else []
    return sorted((_window_at(p) for p in paths), key=lambda w: (w.received_before, w.epoch))


def _write_window(settings: Settings, window: EpochWindow) -> EpochWindow:
    path = settings.layout.epoch_window_file(window.epoch)
    atomic_write_bytes(path, (json.dumps(window.as_dict(), indent=2, sort_keys=True) + "\n").encode())
    return window


def close_window(settings: Settings, *, day: date | None = None, now: datetime | None = None) -> EpochWindow:
    """Close the next epoch: in manual mode the next ``e-NNNN`` now; in daily mode ``day``
    (default yesterday, UTC). A daily epoch closed before is returned as it was; a manual
    epoch closed but never attested is closed again at ``now``."""
    config = rewards_config(settings)
    now = now or datetime.now(timezone.utc)
    if config.epoch == "daily":
        window = daily_window(day or (now.date() - timedelta(days=1)))
        if micros(now) < window.received_before:
            raise RewardsError(f"{window.epoch} is not over yet; close a day that has ended", code="E_EPOCH_OPEN")
    else:
        if day is not None:
            raise RewardsError(
                "--day is for daily epochs and this task has rewards.epoch: manual; drop --day (a manual epoch "
                "closes now) or set rewards.epoch: daily",
                code="E_EPOCH_MODE",
            )
        closed = closed_windows(settings)
        manual = [w for w in closed if w.mode == "manual"]
        if manual and not settings.layout.epoch_attestation(manual[-1].epoch).exists():
            # The last epoch was closed but never attested (its run failed): close it again, now,
            # rather than open another beside it; nothing was paid, so its window may move.
            settings.layout.epoch_members_file(manual[-1].epoch).unlink(missing_ok=True)
            return _write_window(settings, EpochWindow(manual[-1].epoch, "manual", micros(now)))
        window = manual_window([w.epoch for w in closed], now)
    if settings.layout.epoch_window_file(window.epoch).is_file():
        return read_window(settings, window.epoch)
    return _write_window(settings, window)


def _frozen_members(settings: Settings) -> dict[str, tuple[int, list[str]]]:
    """Every epoch whose members are decided: ``{epoch: (order decided in, partitions)}``."""
    frozen = {}
    for window in closed_windows(settings):
        path = settings.layout.epoch_members_file(window.epoch)
        if not path.is_file():
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            order, keys = document["order"], document["contributions"]
            if not isinstance(order, int) or not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise ValueError("order or contributions of the wrong type")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise RewardsError(
                f"{path} is not a readable list of an epoch's members ({type(exc).__name__}: {exc}); restore it "
                "(it decides who the epoch pays), or delete it if the epoch was never attested",
                code="E_EPOCH_MEMBERS",
            ) from None
        frozen[window.epoch] = (order, keys)
    return frozen


def epoch_members(
    settings: Settings, store: ContributionStore, window: EpochWindow, frozen: dict[str, tuple[int, list[str]]]
) -> tuple[list[EpochMember], int]:
    """The attested contributions received before the window's cutoff that no other epoch holds,
    and the order in which this epoch's members were decided.

    Decided on the epoch's first run and kept in ``members.json`` (``frozen`` holds every
    epoch's, from :func:`_frozen_members`): materialising the epoch again (a retry, the UI)
    values the same contributions, whatever was attested since.
    """
    layout = settings.layout
    if window.epoch in frozen:
        order, keys = frozen[window.epoch]
    else:
        elsewhere = {key for _, members in frozen.values() for key in members}
        keys = [
            entry.key
            for entry in store.entries()
            if entry.sequence < window.received_before
            and entry.key not in elsewhere
            # rejected, or still being evaluated: not (yet) an attested contribution
            and layout.attestation(entry.key).statement.is_file()
        ]
        order = 1 + max((o for o, _ in frozen.values()), default=0)
        document = {"epoch": window.epoch, "order": order, "contributions": keys}
        atomic_write_bytes(layout.epoch_members_file(window.epoch), (json.dumps(document, indent=2) + "\n").encode())
    members = []
    for key in keys:
        entry = store.get(key)
        rows = pd.read_parquet(layout.table_file("validated_contribution", key))
        members.append(EpochMember(entry.key, entry.sequence, entry.contributor.wallet, rows))
    return members, order


def known_keys(
    settings: Settings,
    baseline: pd.DataFrame,
    benchmark: pd.DataFrame,
    frozen: dict[str, tuple[int, list[str]]],
    order: int,
) -> set[str]:
    """Content keys of rows that earn nothing in the epoch decided ``order``-th: the baseline's,
    the benchmark's and those of every epoch decided before it (in the order epochs were
    decided, not their cutoffs: a day valued late must not pay again for rows a later day
    already paid for)."""
    decimals = rewards_config(settings).float_decimals
    schema = settings.schema
    known = set(content_keys(baseline, schema, decimals)) | set(content_keys(benchmark, schema, decimals))
    for epoch, (decided, _) in frozen.items():
        table = settings.layout.table_file(EPOCH_ROWS, epoch)
        if decided < order and table.is_file():
            known |= set(pd.read_parquet(table, columns=[ROW_KEY])[ROW_KEY])
    return known


@contextmanager
def closing(settings: Settings) -> Iterator[None]:
    """One `hokusai epoch close` at a time per home: a second one, started while the first
    still runs, would take its unfinished epoch for a failed one and close it again."""
    import fcntl

    path = settings.layout.epochs_lock_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RewardsError(
                f"another `hokusai epoch close` is running under {settings.home}; wait for it to finish",
                code="E_EPOCH_BUSY",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def gather_epoch(
    settings: Settings, store: ContributionStore, epoch: str, baseline: pd.DataFrame, benchmark: pd.DataFrame
) -> tuple[dict, pd.DataFrame]:
    """The ``reward_epoch`` document (members, their accounts and data roots, the rows' root)
    and the ``epoch_rows`` table of a closed epoch."""
    rewards = rewards_config(settings)  # fails closed when the section is missing
    schema = settings.schema
    window = read_window(settings, epoch)
    frozen = _frozen_members(settings)  # read once: who every epoch holds, and in which order
    members, order = epoch_members(settings, store, window, frozen)
    known = known_keys(settings, baseline, benchmark, frozen, order)
    table, accounts = epoch_rows(members, schema, known, rewards.float_decimals)
    roots = {m.partition: data_root(m.rows, schema.columns) for m in members}
    document = {
        "epoch": window.epoch,
        "window": window.statement_view(),
        "contributions": [{**a.as_dict(), "data_root": roots[a.partition]} for a in accounts],
        "rows": {"count": len(table), "data_root": data_root(task_rows(table, schema), schema.columns)},
    }
    return document, table
