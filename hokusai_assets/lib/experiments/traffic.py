"""What the server measures per arm for the guardrails: requests, errors and latency.

Latency is kept as counts in fixed buckets, not as samples: a server adds to its counters
for every request at no cost, several servers' counters add up, and a percentile read from
the buckets is the bucket's upper bound (so a p99 guardrail errs on the side of a breach,
never of a pass).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

# Upper bounds in milliseconds; one more bucket holds everything slower than the last.
LATENCY_BOUNDS_MS = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000, 30000, 60000,
)  # fmt: skip
# A quantile in the slowest bucket is reported as this ceiling ("a minute or more"): a finite
# number for JSON, and above any latency guardrail, which spec.Guardrail keeps below it.
LATENCY_CEILING_MS = float(LATENCY_BOUNDS_MS[-1])


@dataclass
class ArmTraffic:
    requests: int = 0
    errors: int = 0  # the server's own failures (5xx); a caller's bad request is not the arm's fault
    anonymous: int = 0  # requests without a unit id (served A, kept out of the exposures)
    shadow_rows: int = 0  # rows B scored in shadow
    shadow_agreed: int = 0  # of those, rows where B's answer equals what A served
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))

    def observe(self, latency_ms: float | None, error: bool = False) -> None:
        """One request; ``latency_ms`` None when its time says nothing about the model (it
        waited for the model's first load), so it counts for the error rate only."""
        self.requests += 1
        self.errors += int(error)
        if latency_ms is not None:
            self.latency_counts[bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)] += 1

    def add(self, other: ArmTraffic) -> ArmTraffic:
        return ArmTraffic(
            self.requests + other.requests,
            self.errors + other.errors,
            self.anonymous + other.anonymous,
            self.shadow_rows + other.shadow_rows,
            self.shadow_agreed + other.shadow_agreed,
            [x + y for x, y in zip(self.latency_counts, other.latency_counts, strict=True)],
        )

    def latency_quantile_ms(self, q: float) -> float | None:
        """The upper bound of the bucket holding the q-quantile (None before any request;
        LATENCY_CEILING_MS when it is in the slowest bucket)."""
        total = sum(self.latency_counts)
        if total == 0:
            return None
        rank, seen = q * total, 0
        for i, count in enumerate(self.latency_counts):
            seen += count
            if seen >= rank and count:
                return float(LATENCY_BOUNDS_MS[i]) if i < len(LATENCY_BOUNDS_MS) else LATENCY_CEILING_MS
        return LATENCY_CEILING_MS

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def guardrail_values(self) -> dict[str, float | None]:
        return {
            "latency_p50_ms": self.latency_quantile_ms(0.50),
            "latency_p99_ms": self.latency_quantile_ms(0.99),
            "error_rate": self.error_rate,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "anonymous": self.anonymous,
            "shadow_rows": self.shadow_rows,
            "shadow_agreed": self.shadow_agreed,
            "latency_counts": list(self.latency_counts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArmTraffic:
        counts = list(data.get("latency_counts") or [])
        counts = (counts + [0] * (len(LATENCY_BOUNDS_MS) + 1))[: len(LATENCY_BOUNDS_MS) + 1]
        return cls(
            int(data.get("requests", 0)),
            int(data.get("errors", 0)),
            int(data.get("anonymous", 0)),
            int(data.get("shadow_rows", 0)),
            int(data.get("shadow_agreed", 0)),
            counts,
        )
