"""Experiment specs and salts for tests: two made-up arms, a 50/50 binary experiment by default."""

from __future__ import annotations

import hashlib

from hokusai_assets.lib.experiments.spec import Arm, ExperimentSpec

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
