"""Experiment specs and salts for tests: two made-up arms, a 50/50 binary experiment by default;
and traffic and conversions written into a store as servers would."""

from __future__ import annotations

import hashlib
import random

from hokusai_assets.lib.experiments.spec import Arm, ExperimentSpec
from hokusai_assets.lib.experiments.traffic import ArmTraffic

A = Arm("champion", "1", "sha256:" + "a" * 64, "p-a")
B = Arm("challenger", "2", "sha256:" + "b" * 64, "p-b")


def make_spec(experiment_id: str = "ab-1", model: str = "digits-model", **overrides) -> ExperimentSpec:
    fields = dict(
        id=experiment_id,
        name=f"exp-{experiment_id}",
        model=model,
        a=A,
        b=B,
        a_bps=5000,
        metric="conversion",
        kind="binary",
    )
    fields.update(overrides)
    return ExperimentSpec(**fields)


def fixed_salt(label: str) -> bytes:
    """A salt fixed per test case, so statistical checks are reproducible (no flaky 3-SE misses)."""
    return hashlib.sha256(f"hokusai-test-salt:{label}".encode()).digest()


def observe(store, experiment_id, exposed_a=1000, exposed_b=1000, rate_a=0.10, rate_b=0.30, latency_b_ms=3.0):
    """Exposures, conversions and both arms' served traffic (150 requests each), as servers record them."""
    rng = random.Random(7)
    units = [(f"a{i}", "a") for i in range(exposed_a)] + [(f"b{i}", "b") for i in range(exposed_b)]
    store.record_exposures(experiment_id, units)
    rates = {"a": rate_a, "b": rate_b}
    events = [
        {"event_id": f"e-{key}", "unit_key": key, "arm": arm, "value": 1.0}
        for key, arm in units
        if rng.random() < rates[arm]
    ]
    store.record_outcomes(experiment_id, events)
    traffic = {"a": ArmTraffic(), "b": ArmTraffic()}
    for _ in range(150):
        traffic["a"].observe(3.0)
        traffic["b"].observe(latency_b_ms)
    store.save_traffic(experiment_id, "server-1", traffic)
