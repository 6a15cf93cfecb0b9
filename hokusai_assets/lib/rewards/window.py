"""An epoch's name and window: which attested contributions it may hold.

Every epoch holds the attested contributions received before its cutoff that no other
epoch holds. A daily epoch ``d-YYYY-MM-DD`` has the end of that UTC day as its cutoff (a
contribution still being evaluated at midnight rolls into the next day's epoch rather than
being lost); a manual epoch ``e-0001``, ``e-0002``, ... has the moment it was closed.
The cutoff is a receipt time, which differs between deployments holding the same data, so
the statement records only the epoch's mode and day, never the cutoff itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone

from hokusai_assets.lib.rewards.errors import RewardsError

EPOCH_ID_RE = re.compile(r"e-[0-9]{4,9}|d-[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class EpochWindow:
    epoch: str
    mode: str  # "daily" | "manual"
    received_before: int  # receipt sequence (microseconds since 1970, as the store writes it)
    day: str | None = None  # a daily epoch's UTC day

    def as_dict(self) -> dict:
        return asdict(self)

    def statement_view(self) -> dict:
        """What the signed statement says of the window: nothing that differs between deployments."""
        return {"mode": self.mode, "day": self.day}

    @classmethod
    def from_dict(cls, document: dict) -> EpochWindow:
        try:
            window = cls(**document)
        except TypeError as exc:
            raise RewardsError(f"not an epoch window ({exc}); close the epoch again", code="E_EPOCH_WINDOW") from None
        check_epoch_id(window.epoch)
        return window


def check_epoch_id(epoch: str) -> str:
    if not isinstance(epoch, str) or not EPOCH_ID_RE.fullmatch(epoch):
        raise RewardsError(
            f"epoch id {epoch!r} is not e-<number> (manual, e.g. e-0001) or d-YYYY-MM-DD (daily)",
            code="E_EPOCH_ID",
        )
    return epoch


def micros(moment: datetime) -> int:
    """A moment as the store's receipt sequence: microseconds since 1970 (UTC)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def daily_window(day: date) -> EpochWindow:
    """The epoch of one UTC day: everything received before the next midnight."""
    end = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)
    return EpochWindow(epoch=f"d-{day.isoformat()}", mode="daily", received_before=micros(end), day=day.isoformat())


def manual_window(existing: Iterable[str], now: datetime) -> EpochWindow:
    """The next manual epoch, closed at ``now``."""
    numbers = [int(e[2:]) for e in existing if e.startswith("e-") and EPOCH_ID_RE.fullmatch(e)]
    return EpochWindow(epoch=f"e-{max(numbers, default=0) + 1:04d}", mode="manual", received_before=micros(now))
