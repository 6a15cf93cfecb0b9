"""An outcome as a client reports it: ``{"unit_id": …, "event_id": …, "value": …}``, or a batch
``{"outcomes": [ … ]}``. Checked here before anything is stored; messages name the event's
position and field, never a unit id (it is often a user id or an e-mail address).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hokusai_assets.lib.experiments.spec import ExperimentError

MAX_UNIT_ID = 256
MAX_EVENT_ID = 128
MAX_EVENTS = 1000


@dataclass(frozen=True)
class OutcomeEvent:
    unit_id: str
    event_id: str
    value: float


def _bad(message: str) -> ExperimentError:
    return ExperimentError(message, code="E_AB_OUTCOME")


def check_unit_id(unit_id: Any, where: str = "unit_id") -> str:
    if not isinstance(unit_id, str) or not 0 < len(unit_id) <= MAX_UNIT_ID:
        raise _bad(f"{where} must be a non-empty string of at most {MAX_UNIT_ID} characters")
    return unit_id


def _event(item: Any, where: str, kind: str) -> OutcomeEvent:
    if not isinstance(item, dict) or set(item) != {"unit_id", "event_id", "value"}:
        raise _bad(f'{where}: send exactly {{"unit_id": "...", "event_id": "...", "value": number}}')
    unit_id = check_unit_id(item["unit_id"], f"{where}: unit_id")
    event_id = item["event_id"]
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID:
        raise _bad(f"{where}: event_id must be a non-empty string of at most {MAX_EVENT_ID} characters")
    value = item["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{where}: value must be a finite number")
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
