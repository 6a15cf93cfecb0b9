"""Suppression as a pure function of state and time: one send per window, then one summary."""

import json

from hokusai_assets.lib.alerts.alert import QUARANTINED, Alert
from hokusai_assets.lib.alerts.suppression import admit, close_windows

WINDOW = 600.0


def _alert(subject: str = "E_INTAKE_DUPLICATE", at: float = 0.0) -> Alert:
    return Alert(kind=QUARANTINED, severity="error", title="File quarantined", text="t.", subject=subject, at=at)


def test_first_alert_is_sent_and_repeats_in_the_window_are_counted():
    sent, state = admit({}, _alert(at=0), now=0, window=WINDOW)
    assert sent == [_alert(at=0)]
    for minute in range(1, 4):
        sent, state = admit(state, _alert(at=minute * 60), now=minute * 60, window=WINDOW)
        assert sent == []
    assert state["quarantined:E_INTAKE_DUPLICATE"]["suppressed"] == 3
    json.dumps(state)  # the state is plain JSON


def test_another_subject_is_not_suppressed():
    _, state = admit({}, _alert("E_A"), now=0, window=WINDOW)
    sent, state = admit(state, _alert("E_B"), now=1, window=WINDOW)
    assert [a.subject for a in sent] == ["E_B"]


def test_window_end_sends_one_summary_at_the_next_tick():
    _, state = admit({}, _alert(at=0), now=0, window=WINDOW)
    for t in (10, 20):
        _, state = admit(state, _alert(at=t), now=t, window=WINDOW)
    summaries, still = close_windows(state, now=WINDOW - 1, window=WINDOW)
    assert summaries == [] and still == state  # not yet
    summaries, state = close_windows(state, now=WINDOW, window=WINDOW)
    [summary] = summaries
    assert summary.suppressed == 2 and summary.window_start == 0 and summary.at == 20
    assert "repeated 2 more times" in summary.title
    assert "between 1970-01-01T00:00:00Z and 1970-01-01T00:00:20Z" in summary.text
    assert state == {}
    assert close_windows(state, now=2 * WINDOW, window=WINDOW) == ([], {})  # said once


def test_window_end_sends_the_summary_before_the_next_alert_when_no_tick_came_between():
    _, state = admit({}, _alert(at=0), now=0, window=WINDOW)
    _, state = admit(state, _alert(at=5), now=5, window=WINDOW)
    sent, state = admit(state, _alert(at=700), now=700, window=WINDOW)
    assert [a.suppressed for a in sent] == [1, 0]
    assert state["quarantined:E_INTAKE_DUPLICATE"] == {"opened_at": 700, "suppressed": 0, "last": _alert(at=700).as_dict()}


def test_a_quiet_window_ends_without_a_summary():
    _, state = admit({}, _alert(), now=0, window=WINDOW)
    assert close_windows(state, now=WINDOW, window=WINDOW) == ([], {})


def test_window_zero_suppresses_nothing():
    state = {}
    for t in range(3):
        sent, state = admit(state, _alert(at=t), now=t, window=0)
        assert len(sent) == 1
    assert state == {}
