"""Suppression: the same alert (same kind and subject) is sent once per window.

The state is plain JSON-able data, ``{alert key: {"opened_at", "suppressed", "last"}}``, kept
per target by services/alerts. The first alert of a key opens a window and is sent; repeats
inside it are counted, not sent. When the window has ended, one summary (the last repeat,
saying how many were held back and since when) is sent, at the next tick or at the next
alert of that key, whichever comes first; a window that held nothing back is forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hokusai_assets.lib.alerts.alert import Alert

State = Mapping[str, Mapping[str, Any]]


def _ended(entry: Mapping[str, Any], now: float, window: float) -> bool:
    return now - float(entry["opened_at"]) >= window


def _summary(entry: Mapping[str, Any]) -> Alert:
    return Alert.from_dict(dict(entry["last"])).summary(int(entry["suppressed"]), float(entry["opened_at"]))


def admit(state: State, alert: Alert, now: float, window: float) -> tuple[list[Alert], dict[str, dict[str, Any]]]:
    """What to send for ``alert`` at ``now`` (nothing, the alert, or the summary of the ended
    window and then the alert), and the state after it."""
    new_state = {key: dict(entry) for key, entry in state.items()}
    entry = new_state.get(alert.key)
    if entry is not None and not _ended(entry, now, window):
        entry["suppressed"] = int(entry["suppressed"]) + 1
        entry["last"] = alert.as_dict()
        return [], new_state
    to_send = [_summary(entry)] if entry is not None and int(entry["suppressed"]) > 0 else []
    if window > 0:
        new_state[alert.key] = {"opened_at": now, "suppressed": 0, "last": alert.as_dict()}
    else:
        new_state.pop(alert.key, None)
    return [*to_send, alert], new_state


def close_windows(state: State, now: float, window: float) -> tuple[list[Alert], dict[str, dict[str, Any]]]:
    """Summaries of the windows that ended with repeats held back; ended windows are dropped."""
    summaries, kept = [], {}
    for key, entry in state.items():
        if not _ended(entry, now, window):
            kept[key] = dict(entry)
        elif int(entry["suppressed"]) > 0:
            summaries.append(_summary(entry))
    return summaries, kept
