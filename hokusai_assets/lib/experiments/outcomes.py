"""An outcome as a client reports it: ``{"unit_id": …, "event_id": …, "value": …}``, or a batch
``{"outcomes": [ … ]}``. Checked here before anything is stored; messages name the event's
position and field, never a unit id (it is often a user id or an e-mail address).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hokusai_assets.lib.experiments.spec import ExperimentError

MAX_UNIT_ID = 256
MAX_EVENT_ID = 128
MAX_EVENTS = 1000
# Far beyond any conversion, revenue or latency, and small enough that the sums of squares of
# millions of them stay exact enough in a float64; also refuses integers too large for a float.
MAX_ABS_VALUE = 1e12


@dataclass(frozen=True)
class OutcomeEvent:
    unit_id: str
    event_id: str
    value: float


def _bad(message: str) -> ExperimentError:
    return ExperimentError(message, code="E_AB_OUTCOME")


def _is_text(value: Any, longest: int) -> bool:
    """A non-empty string of at most ``longest`` characters that UTF-8 can encode (JSON's
    ``"\ud800"`` decodes to a lone surrogate, which it cannot)."""
    if not isinstance(value, str) or not 0 < len(value) <= longest:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_unit_id(unit_id: Any, where: str = "unit_id") -> str:
    if not _is_text(unit_id, MAX_UNIT_ID):
        raise _bad(f"{where} must be a non-empty string of at most {MAX_UNIT_ID} characters (valid Unicode)")
    return unit_id


def _event(item: Any, where: str, kind: str) -> OutcomeEvent:
    if not isinstance(item, dict) or set(item) != {"unit_id", "event_id", "value"}:
        raise _bad(f'{where}: send exactly {{"unit_id": "...", "event_id": "...", "value": number}}')
    unit_id = check_unit_id(item["unit_id"], f"{where}: unit_id")
    event_id = item["event_id"]
    if not _is_text(event_id, MAX_EVENT_ID):
        raise _bad(f"{where}: event_id must be a non-empty string of at most {MAX_EVENT_ID} characters (valid Unicode)")
    value = item["value"]
    # The bound first: math.isfinite overflows on an integer of a few hundred digits.
    if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) <= MAX_ABS_VALUE:
        raise _bad(f"{where}: value must be a finite number between -{MAX_ABS_VALUE:.0e} and {MAX_ABS_VALUE:.0e}")
    if kind == "binary" and value not in (0, 1):
        raise _bad(f"{where}: this experiment's metric is binary: value is 0 or 1")
    return OutcomeEvent(unit_id, event_id, float(value))


def parse_outcomes(body: Any, kind: str) -> list[OutcomeEvent]:
    if isinstance(body, dict) and "outcomes" in body:
        items = body["outcomes"]
        if set(body) != {"outcomes"} or not isinstance(items, list) or not items:
            raise _bad('send {"outcomes": [{…}, …]} with at least one outcome, or one outcome object')
        if len(items) > MAX_EVENTS:
            raise _bad(f"{len(items)} outcomes in one request; at most {MAX_EVENTS}")
        return [_event(item, f"outcome {i}", kind) for i, item in enumerate(items)]
    return [_event(body, "the outcome", kind)]
