"""What peeking does to an A/B test, simulated: the mSPRT against the naive z test.

Each simulated experiment sends each look's units to A and B in the designed split,
draws each unit's outcome (0/1 with the arm's rate for a binary metric; normal with the
arm's mean and sd 1 for a continuous one), and looks at the data after every ``peek_every``
units, up to ``max_units``. At every look both tests are run, and an experiment "declares"
the first time a test rejects "A and B are equal":

* the mSPRT (:mod:`.statistics`) when its always-valid p-value is below alpha;
* the fixed-horizon z test when ``|z| > z_{1 - alpha/2}``, i.e. what a dashboard showing the
  textbook p-value invites: stop the first time it says "significant".

With equal arms (an A/A test) the share of declaring experiments is the false-declaration
rate under continuous monitoring: at most alpha for the mSPRT, several times alpha for the
z test (Armitage, McPherson & Rowe 1969; Johari et al. 2022). With a real effect
it is the power, and the units at first declaration tell how long such an experiment runs.

Vectorised: outcomes are drawn for a block of experiments at once, summed per look interval,
and accumulated with ``cumsum``, so the tests see (count, sum, sum of squares) per arm at
every look without a Python loop over units or looks. A seeded ``numpy.random.Generator``
makes a run reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from hokusai_assets.lib.experiments.statistics import (
    DEFAULT_ALPHA,
    DEFAULT_MIXTURE_SD,
    arm_moments,
    mixture_log_likelihood_ratio,
    test_variances,
)

# Outcomes drawn at once (experiments x units); about 32 MB of float64, whatever the scenario.
_VALUES_PER_BLOCK = 4_000_000


@dataclass(frozen=True)
class LookStatistics:
    """Both tests at every look of a batch of experiments; arrays of shape (experiments, looks)."""

    units: np.ndarray  # (looks,) units in both arms together at each look
    effect: np.ndarray  # mean_b - mean_a
    log_likelihood_ratio: np.ndarray  # ln Lambda of the mSPRT
    z: np.ndarray  # the fixed-horizon z statistic (0 where the arms cannot be compared)


@dataclass(frozen=True, eq=False)  # eq=False: element-wise array equality has no truth value
class PeekingOutcome:
    n_experiments: int
    peek_every: int
    max_units: int
    alpha: float
    mixture_sd: float
    kind: str
    msprt_declared_share: float  # share of experiments the mSPRT ever declared
    fixed_horizon_declared_share: float  # the same for the naive z test, peeking alike
    units_at_declaration: np.ndarray  # per experiment: units (both arms) at the mSPRT's first declaration; NaN: never
    sign_at_declaration: np.ndarray  # per experiment: +1 B better, -1 A better, 0 never (mSPRT)

    @property
    def monte_carlo_se(self) -> float:
        """Standard error of a declared share near alpha, from the number of experiments."""
        return math.sqrt(self.alpha * (1 - self.alpha) / self.n_experiments)

    def share_declared(self, sign: int) -> float:
        """Share of experiments where the mSPRT declared in direction ``sign`` (+1: B > A)."""
        return float(np.mean(self.sign_at_declaration == sign))

    @property
    def median_units_to_declare(self) -> float | None:
        """Median units (both arms) until the mSPRT declared, counting experiments that never
        declared as needing more than ``max_units``; None when half or more never declared.
        Not conditioned on declaring, so it is not flattered by dropping the slow experiments."""
        units = np.where(np.isnan(self.units_at_declaration), np.inf, self.units_at_declaration)
        median = float(np.median(units))
        return median if math.isfinite(median) else None


def look_statistics(
    values_a: np.ndarray,
    values_b: np.ndarray,
    a_per_look: int,
    b_per_look: int | None = None,
    mixture_sd: float = DEFAULT_MIXTURE_SD,
    binary: bool = False,
) -> LookStatistics:
    """Both tests at each look, for per-unit values of shape (experiments, units of the arm).

    Look k sees the first ``k * a_per_look`` units of A and ``k * b_per_look`` of B (as many
    as A's when not given); units after the last whole look are ignored."""
    b_per_look = a_per_look if b_per_look is None else b_per_look
    experiments = values_a.shape[0]
    looks = min(values_a.shape[1] // a_per_look, values_b.shape[1] // b_per_look)
    if values_b.shape[0] != experiments or looks < 1:
        raise ValueError("both arms need the same experiments and at least one look's worth of units")

    def running_sums(values: np.ndarray, per_look: int) -> tuple[np.ndarray, np.ndarray]:
        blocks = values[:, : looks * per_look].reshape(experiments, looks, per_look)
        return np.cumsum(blocks.sum(axis=2), axis=1), np.cumsum((blocks * blocks).sum(axis=2), axis=1)

    look_numbers = np.arange(1, looks + 1, dtype=float)
    n_a, n_b = a_per_look * look_numbers, b_per_look * look_numbers
    mean_a, variance_a = arm_moments(n_a, *running_sums(values_a, a_per_look))
    mean_b, variance_b = arm_moments(n_b, *running_sums(values_b, b_per_look))
    effect = mean_b - mean_a
    variance, common_variance = test_variances(n_a, mean_a, variance_a, n_b, mean_b, variance_b, binary)
    # The z test is the textbook one, unpooled, whatever the metric: the control as dashboards show it.
    z_variance = np.where(np.isnan(variance), np.nan, variance_a / n_a + variance_b / n_b)
    comparable = np.isfinite(z_variance) & (z_variance > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(comparable, effect / np.sqrt(np.where(comparable, z_variance, 1.0)), 0.0)
    log_lr = mixture_log_likelihood_ratio(effect, variance, mixture_sd**2 * common_variance)
    return LookStatistics(n_a + n_b, effect, log_lr, z)


def simulate_peeking(
    n_experiments: int,
    peek_every: int,
    max_units: int,
    rate_a: float,
    rate_b: float,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    mixture_sd: float = DEFAULT_MIXTURE_SD,
    kind: Literal["binary", "continuous"] = "binary",
    a_share: float = 0.5,
) -> PeekingOutcome:
    """Simulate ``n_experiments`` experiments looked at every ``peek_every`` units (both arms
    together) up to ``max_units`` (the last look is the last multiple of ``peek_every``);
    ``rate_a``/``rate_b`` are the arms' conversion rates (binary) or means with sd 1
    (continuous). ``a_share`` of each look's units go to A (0.9 for a 90/10 split); it must
    give each arm a whole number of them."""
    a_per_look = round(peek_every * a_share)
    b_per_look = peek_every - a_per_look
    if n_experiments < 1 or max_units < peek_every:
        raise ValueError("need n_experiments >= 1 and max_units >= peek_every")
    if not (a_per_look >= 2 and b_per_look >= 2 and math.isclose(a_per_look, peek_every * a_share)):
        raise ValueError(f"peek_every {peek_every} must give each arm 2 units or more, whole, at a_share {a_share}")
    if kind not in ("binary", "continuous"):
        raise ValueError(f"kind must be binary or continuous, got {kind!r}")
    if kind == "binary" and not (0 <= rate_a <= 1 and 0 <= rate_b <= 1):
        raise ValueError("binary rates must be between 0 and 1")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    rng = np.random.default_rng(seed)
    n_looks = max_units // peek_every
    log_threshold = math.log(1 / alpha)
    z_critical = float(stats.norm.isf(alpha / 2))

    def draw(rows: int, units: int, rate: float) -> np.ndarray:
        if kind == "binary":
            return (rng.random((rows, units)) < rate).astype(float)
        # Centred on arm A's mean: differences and variances are unchanged, and the running
        # sums of squares do not lose precision to a large common mean.
        return rng.standard_normal((rows, units)) + (rate - rate_a)

    msprt_declared, fixed_declared, first_units, first_sign = [], [], [], []
    rows_per_block = max(1, _VALUES_PER_BLOCK // (n_looks * peek_every))
    for start in range(0, n_experiments, rows_per_block):
        rows = min(rows_per_block, n_experiments - start)
        values_a = draw(rows, n_looks * a_per_look, rate_a)
        values_b = draw(rows, n_looks * b_per_look, rate_b)
        looks = look_statistics(values_a, values_b, a_per_look, b_per_look, mixture_sd, binary=kind == "binary")
        # Same rule as statistics.msprt: p = 1 / Lambda < alpha.
        msprt_rejects = looks.log_likelihood_ratio > log_threshold
        ever = msprt_rejects.any(axis=1)
        first = msprt_rejects.argmax(axis=1)  # index of the first True (0 when none: masked below)
        msprt_declared.append(ever)
        fixed_declared.append((np.abs(looks.z) > z_critical).any(axis=1))
        first_units.append(np.where(ever, looks.units[first], np.nan))
        first_sign.append(np.where(ever, np.sign(looks.effect[np.arange(rows), first]), 0).astype(int))

    msprt_ever = np.concatenate(msprt_declared)
    return PeekingOutcome(
        n_experiments=n_experiments,
        peek_every=peek_every,
        max_units=max_units,
        alpha=alpha,
        mixture_sd=mixture_sd,
        kind=kind,
        msprt_declared_share=float(msprt_ever.mean()),
        fixed_horizon_declared_share=float(np.concatenate(fixed_declared).mean()),
        units_at_declaration=np.concatenate(first_units),
        sign_at_declaration=np.concatenate(first_sign),
    )
