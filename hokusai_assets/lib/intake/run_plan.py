"""Which runs the contribution sensor asks for: the plan of one tick, as a pure function.

A contribution is only worth evaluating against a current reference (baseline model and
metrics built from today's config, reference files and code). While the reference is
missing or stale, the tick asks for one run that prepares it, keyed by the reference's
fingerprint so it is asked for once, and holds every waiting contribution until a later
tick finds the reference current.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RunPlan:
    evaluate: tuple[str, ...]  # contribution partitions to run now (each its own run key)
    prepare_reference: str | None  # the run key of the reference run to ask for, if any
    held: tuple[str, ...]  # partitions that wait for the reference

    def describe(self) -> str:
        if self.prepare_reference:
            return f"reference not current: preparing it; {len(self.held)} contribution run(s) wait for it"
        if self.evaluate:
            return f"{len(self.evaluate)} contribution run(s) requested"
        return "nothing to run"


def plan_contribution_runs(
    held: Sequence[str],
    new_keys: Sequence[str],
    recorded_fingerprint: Callable[[], str | None],
    current_fingerprint: Callable[[], str],
) -> RunPlan:
    """Plan one tick: ``held`` from the last tick and this tick's ``new_keys`` wait to run.

    The fingerprints are asked for only when there is something to run, and once each:
    the recorded one is a query of the instance, the current one hashes the reference files.
    """
    waiting = (*held, *new_keys)
    if not waiting:
        return RunPlan((), None, ())
    fingerprint = current_fingerprint()
    if recorded_fingerprint() == fingerprint:
        return RunPlan(waiting, None, ())
    # One reference run per fingerprint: if it fails, fix it and launch prepare_baseline from
    # the UI (or change the config); the held runs start once the reference is current.
    return RunPlan((), f"reference-{fingerprint.removeprefix('sha256:')[:16]}", waiting)
