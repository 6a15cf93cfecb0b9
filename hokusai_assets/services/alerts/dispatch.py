"""Route, suppress and deliver a batch of alerts: what each alert sensor tick calls.

For every target: the windows that ended send their summaries, then each alert of a kind
the target takes is admitted or counted as a repeat (lib/alerts/suppression.py), and the
state is saved before anything is sent, so a daemon killed mid-delivery sends nothing twice
after its restart. Then the deliveries, each with its retries. A target that failed every
attempt is not tried again in the same tick (its further alerts are recorded at once), and
the tick starts no delivery that could end past its time budget: a tick must end well inside
Dagster's sensor timeout. No delivery raises; what was not delivered is logged and recorded
(only a state file that cannot be written raises, and the sensors catch that too).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hokusai_assets.lib.alerts.alert import Alert, iso_time
from hokusai_assets.lib.alerts.suppression import admit, close_windows
from hokusai_assets.services.alerts.delivery import DeliveryOutcome, deliver
from hokusai_assets.services.alerts.state import locked_state, record_undelivered
from hokusai_assets.settings.alerts import AlertsConfig
from hokusai_assets.settings.layout import HomeLayout

# What one tick may spend delivering: a delivery starts only if it would end within this even
# if every attempt timed out (at most 40 s, settings/alerts.py); the rest is recorded as undelivered.
TICK_BUDGET_SECONDS = 50.0


class Log(Protocol):
    def info(self, msg: str) -> Any: ...

    def warning(self, msg: str) -> Any: ...


@dataclass
class DispatchReport:
    delivered: list[tuple[str, str]] = field(default_factory=list)  # (target, alert key)
    suppressed: int = 0
    undelivered: list[tuple[str, str, str]] = field(default_factory=list)  # (target, alert key, why)

    def describe(self) -> str:
        said = f"alerts: {len(self.delivered)} delivered, {self.suppressed} suppressed as repeats"
        if self.undelivered:
            said += f", {len(self.undelivered)} undelivered (see the warnings)"
        return said


def dispatch(
    config: AlertsConfig,
    layout: HomeLayout,
    alerts: Sequence[Alert],
    log: Log,
    *,
    now: float | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    budget_seconds: float = TICK_BUDGET_SECONDS,
) -> DispatchReport:
    now = time.time() if now is None else now
    report = DispatchReport()
    outbox: list[tuple[Any, Alert]] = []
    with locked_state(layout.alert_state_file, warn=log.warning) as state:
        kept: dict[str, Any] = {}
        for target in config.targets:
            policy = config.policy(target)
            windows = state.get(target.name, {})
            to_send, windows = close_windows(windows, now, policy.suppress_seconds)
            for alert in sorted(alerts, key=lambda a: a.at):
                if alert.kind not in policy.kinds:
                    continue
                admitted, windows = admit(windows, alert, now, policy.suppress_seconds)
                to_send += admitted
                report.suppressed += alert not in admitted
            kept[target.name] = windows
            outbox += [(target, alert) for alert in to_send]
        state.clear()
        state.update(kept)  # a target removed from the config takes its windows with it
    deadline = time.monotonic() + budget_seconds
    down: dict[str, str] = {}
    for target, alert in outbox:
        if target.name in down:
            outcome = DeliveryOutcome(target.name, False, 0, f"not tried: {down[target.name]} earlier in this tick")
        elif time.monotonic() + config.policy(target).worst_case_seconds > deadline:
            outcome = DeliveryOutcome(target.name, False, 0, f"not tried: the tick's {budget_seconds:.0f} s were spent")
        else:
            outcome = deliver(target, alert, config.policy(target), environ, sleep)
            if not outcome.delivered and outcome.attempts > 0:
                down[target.name] = outcome.error or "failed"
        if outcome.delivered:
            report.delivered.append((target.name, alert.key))
            continue
        _undelivered(layout, target.name, alert, outcome, log)
        report.undelivered.append((target.name, alert.key, outcome.error or ""))
    return report


def _undelivered(layout: HomeLayout, target: str, alert: Alert, outcome: DeliveryOutcome, log: Log) -> None:
    log.warning(
        f"alert {alert.key} not delivered to {target} after {outcome.attempts} attempt(s): {outcome.error}; "
        f"recorded in {layout.undelivered_alerts_log}"
    )
    try:
        record_undelivered(
            layout.undelivered_alerts_log,
            {
                "recorded_at": iso_time(time.time()),
                "target": target,
                "attempts": outcome.attempts,
                "error": outcome.error,
                "alert": {**alert.as_dict(), "time": iso_time(alert.at)},
            },
        )
    except OSError as error:  # a full or read-only home must not stop the other deliveries
        log.warning(f"could not record the undelivered alert in {layout.undelivered_alerts_log}: {error}")
