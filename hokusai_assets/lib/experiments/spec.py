"""What an experiment is: two pinned model versions, a split, a metric, guardrails, and what
may happen automatically. Parsed and checked here from what a user types
(``--split 90/10``, ``--guardrail "latency_p99_ms<=50"``), so the CLI, the Python API and
the store agree on one meaning.

The arms are pinned when the experiment starts: ``--a champion`` is resolved to the
champion's version and model digest then, and a promotion made during the experiment does
not change what arm A serves (an experiment compares two fixed models, or it compares
nothing).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.experiments.assignment import BUCKETS
from hokusai_assets.lib.experiments.traffic import LATENCY_CEILING_MS

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
METRIC = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
GUARDRAIL = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*$")
# What the server measures per arm; a guardrail is a bound on arm B's value of one of them.
GUARDRAIL_METRICS = {
    "latency_p50_ms": "median time to answer a prediction request, in milliseconds",
    "latency_p99_ms": "99th percentile of that time",
    "error_rate": "share of the arm's requests that failed on the server's side (5xx)",
}
Kind = Literal["binary", "continuous"]


class ExperimentError(HokusaiError):
    """An experiment cannot be defined, started, found or changed as asked."""

    code = "E_AB"


@dataclass(frozen=True)
class Guardrail:
    metric: str
    op: str  # <=, <, >=, >
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Guardrail:
        match = GUARDRAIL.fullmatch(text or "")
        if not match:
            raise ExperimentError(
                f"guardrail {text[:80]!r} is not METRIC<=NUMBER (or <, >=, >), e.g. latency_p99_ms<=50",
                code="E_AB_GUARDRAIL",
            )
        metric, op, number = match.groups()
        if metric not in GUARDRAIL_METRICS:
            raise ExperimentError(
                f"guardrail metric {metric!r} is not measured; use one of {', '.join(GUARDRAIL_METRICS)}",
                code="E_AB_GUARDRAIL",
            )
        try:
            threshold = float(number)
        except ValueError:
            threshold = math.nan
        if not math.isfinite(threshold):
            raise ExperimentError(f"guardrail {text[:80]!r}: {number!r} is not a finite number", code="E_AB_GUARDRAIL")
        if metric.startswith("latency_") and not 0 < threshold < LATENCY_CEILING_MS:
            raise ExperimentError(
                f"guardrail {text[:80]!r}: a latency bound is between 0 and {LATENCY_CEILING_MS:g} ms "
                "(slower requests are counted together)",
                code="E_AB_GUARDRAIL",
            )
        return cls(metric, op, threshold)

    def holds(self, value: float) -> bool:
        return {
            "<=": value <= self.threshold,
            "<": value < self.threshold,
            ">=": value >= self.threshold,
            ">": value > self.threshold,
        }[self.op]

    def __str__(self) -> str:
        # The short form when it is exact (50, not 50.0), else the shortest that round-trips:
        # this text is what the store keeps.
        short = f"{self.threshold:g}"
        return f"{self.metric}{self.op}{short if float(short) == self.threshold else repr(self.threshold)}"


def parse_split(text: str) -> tuple[int, int]:
    """``"90/10"`` -> (9000, 1000) basis points of A and B; both arms get traffic, the sum is 100."""
    parts = (text or "").split("/")
    try:
        shares = [float(p) for p in parts]
    except ValueError:
        shares = []
    if len(shares) != 2 or not all(math.isfinite(s) for s in shares):
        raise ExperimentError(f"split {text[:40]!r} is not A/B in percent, e.g. 90/10 or 50/50", code="E_AB_SPLIT")
    a_bps, b_bps = (round(s * BUCKETS / 100) for s in shares)
    if a_bps + b_bps != BUCKETS or abs(sum(shares) - 100) > 1e-9:
        raise ExperimentError(f"split {text[:40]!r} does not add up to 100", code="E_AB_SPLIT")
    if min(a_bps, b_bps) < 1:
        raise ExperimentError(
            f"split {text[:40]!r}: each arm needs at least 0.01%; to stop an experiment use hokusai ab stop",
            code="E_AB_SPLIT",
        )
    return a_bps, b_bps


@dataclass(frozen=True)
class Arm:
    """One side of an experiment: the reference the user gave, pinned to a version and digest."""

    reference: str  # an alias (champion, challenger, staging) or a version number, as given
    version: str
    model_digest: str
    partition: str


@dataclass(frozen=True)
class ExperimentSpec:
    id: str
    name: str
    model: str
    a: Arm
    b: Arm
    a_bps: int
    metric: str
    kind: Kind
    shadow: bool = False
    higher_is_better: bool = True
    guardrails: tuple[Guardrail, ...] = field(default_factory=tuple)
    min_units: int = 100  # per arm, before a winner may be declared
    guardrail_min_requests: int = 100  # of arm B, before a guardrail may be breached
    alpha: float = 0.05
    auto_promote: bool = False
    auto_rollback: bool = False

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ExperimentError(
                f"experiment name {self.name[:70]!r}: letters, digits, '_', '.' and '-', at most 64", code="E_AB_NAME"
            )
        if not METRIC.fullmatch(self.metric):
            raise ExperimentError(
                f"metric name {self.metric[:70]!r}: lowercase letters, digits and '_', e.g. conversion",
                code="E_AB_METRIC",
            )
        if self.kind not in ("binary", "continuous"):
            raise ExperimentError(f"--kind {self.kind!r}: binary or continuous", code="E_AB_METRIC")
        if not 0 < self.a_bps < BUCKETS:
            raise ExperimentError("each arm needs a share of traffic between 0 and 100%", code="E_AB_SPLIT")
        if not 0 < self.alpha < 0.5:
            raise ExperimentError(f"alpha {self.alpha} must be between 0 and 0.5", code="E_AB_ALPHA")
        if self.min_units < 2 or self.guardrail_min_requests < 1:
            raise ExperimentError("--min-units is at least 2 per arm", code="E_AB_MIN_UNITS")
        if self.a.version == self.b.version:
            raise ExperimentError(
                f"--a {self.a.reference} and --b {self.b.reference} are the same version ({self.a.version}); "
                "an experiment compares two versions",
                code="E_AB_SAME_VERSION",
            )
        if self.shadow and self.auto_promote:
            raise ExperimentError(
                "--shadow serves only A, so outcomes cannot show B is better: --auto-promote needs a live experiment",
                code="E_AB_SHADOW",
            )

    @property
    def b_bps(self) -> int:
        return BUCKETS - self.a_bps

    @property
    def split(self) -> str:
        return f"{self.a_bps / 100:g}/{self.b_bps / 100:g}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["guardrails"] = [str(g) for g in self.guardrails]
        data["split"] = self.split
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentSpec:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["a"], fields["b"] = Arm(**data["a"]), Arm(**data["b"])
        fields["guardrails"] = tuple(Guardrail.parse(g) for g in data.get("guardrails", ()))
        return cls(**fields)
