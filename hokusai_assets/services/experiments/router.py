"""Routing inside ``hokusai serve``: which arm answers a unit, and what is counted for it.

The running experiment is read from the store by the server's refresh thread (with the
aliases, every ``serving.alias_refresh_seconds``), so ``hokusai ab start`` and ``stop`` take
effect within a second in every server process. Assignment itself needs no state (see
``lib/experiments/assignment.py``); what this keeps is the bookkeeping:

- a unit's first assignment is an exposure: queued in memory and written by the refresh
  thread in one transaction per interval, so a request never waits on the database (a unit
  whose exposure is lost with a killed server is exposed again by its next request or by its
  first outcome, see ``ExperimentStore.record_outcomes``);
- per arm, requests, errors and latency buckets, flushed the same way (cumulative, per
  server process, so several servers add up).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from hokusai_assets.lib.experiments.assignment import ARM_A, ARM_B, ARMS, assign
from hokusai_assets.lib.experiments.spec import Arm
from hokusai_assets.lib.experiments.traffic import ArmTraffic
from hokusai_assets.services.experiments.store import ExperimentStore, StoredExperiment

# Bound on the units remembered as exposed per process (about 120 bytes each: some 30 MB):
# past it the memory is cleared and the store's insert-or-ignore keeps exposures unique.
MAX_REMEMBERED_UNITS = 250_000
# Bound on exposures waiting for the store (about 100 bytes each).
MAX_PENDING_EXPOSURES = 100_000


@dataclass(frozen=True)
class Route:
    experiment_id: str
    arm: str  # the unit's arm ("a" for a request without a unit id)
    served: Arm  # the pinned version (digest, attested partition) that answers the caller
    shadow: Arm | None  # B, when B scores this request in shadow only
    anonymous: bool

    @property
    def served_arm(self) -> str:
        """The arm whose model answers: A whenever B only scores in shadow."""
        return ARM_A if self.shadow else self.arm


class ExperimentRouter:
    def __init__(self, store: ExperimentStore, model: str) -> None:
        self.store = store
        self.model = model
        self.server_id = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._experiment: StoredExperiment | None = None
        self._seen: set[str] = set()
        self._pending: list[tuple[str, str]] = []
        self._traffic: dict[str, ArmTraffic] = {}
        self._dirty = False

    @property
    def experiment(self) -> StoredExperiment | None:
        return self._experiment

    def refresh(self) -> None:
        """Write what is pending, then pick up the running experiment (or its end), even when
        the write failed: a stop must reach routing whatever else is wrong."""
        try:
            self.flush()
        finally:
            running = self.store.running(self.model)
            with self._lock:
                if (running and running.id) != (self._experiment and self._experiment.id):
                    self._experiment = running
                    self._seen, self._pending = set(), []
                    self._traffic = {arm: ArmTraffic() for arm in ARMS}
                    self._dirty = False

    def route(self, unit_id: str | None) -> Route | None:
        experiment = self._experiment
        if experiment is None:
            return None
        spec = experiment.spec
        if unit_id is None:
            # No unit, no assignment: the control answers and the request is counted apart.
            with self._lock:
                self._traffic[ARM_A].anonymous += 1
                self._dirty = True
            return Route(experiment.id, ARM_A, spec.a, None, True)
        arm, key = assign(experiment.salt, unit_id, spec.a_bps)
        with self._lock:
            # While the store refuses writes the queue stops growing: a unit left out is not
            # remembered, so its next request (or first outcome) exposes it.
            if key not in self._seen and len(self._pending) < MAX_PENDING_EXPOSURES:
                if len(self._seen) >= MAX_REMEMBERED_UNITS:
                    self._seen.clear()
                self._seen.add(key)
                self._pending.append((key, arm))
        if spec.shadow:
            return Route(experiment.id, arm, spec.a, spec.b if arm == ARM_B else None, False)
        return Route(experiment.id, arm, spec.a if arm == ARM_A else spec.b, None, False)

    def observe(self, arm: str, latency_ms: float | None, error: bool = False) -> None:
        with self._lock:
            traffic = self._traffic.get(arm)
            if traffic is not None:
                traffic.observe(latency_ms, error)
                self._dirty = True

    def observe_shadow(self, latency_ms: float | None, rows: int, agreed: int, error: bool = False) -> None:
        """B scored in shadow: its latency and errors are B's, its agreement with A is kept."""
        with self._lock:
            traffic = self._traffic.get(ARM_B)
            if traffic is not None:
                traffic.observe(latency_ms, error)
                traffic.shadow_rows += rows
                traffic.shadow_agreed += agreed
                self._dirty = True

    def flush(self) -> None:
        with self._lock:
            experiment = self._experiment
            pending, self._pending = self._pending, []
            traffic = (
                {arm: ArmTraffic.from_dict(t.as_dict()) for arm, t in self._traffic.items()} if self._dirty else None
            )
            self._dirty = False
        if experiment is None:
            return
        try:
            if pending:
                self.store.record_exposures(experiment.id, pending)
            if traffic is not None:
                self.store.save_traffic(experiment.id, self.server_id, traffic)
        except Exception:
            with self._lock:  # put them back for the next flush; the caller logs the failure
                if self._experiment is experiment:
                    self._pending = pending + self._pending
                    self._dirty = self._dirty or traffic is not None
            raise
