"""Statistics of an A/B experiment that may be looked at any time: the mSPRT on a difference of means.

Why not the textbook test
-------------------------
A fixed-horizon z (or t) test is valid only when it is run once, at a sample size chosen in
advance. An experiment whose dashboard is refreshed while traffic arrives is tested again at
every look, and "stop as soon as p < 0.05" then declares a winner between two identical
models far more often than 5% of the time (Armitage, McPherson & Rowe, "Repeated significance
tests on accumulating data", JRSS A 132(2), 1969; ``simulation.simulate_peeking`` measures it
here). We therefore report *always-valid* inference: a p-value and a confidence interval that
keep their meaning at whatever look, however chosen, the experiment is stopped.

The test
--------
The mixture sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis & Walsh,
"Always Valid Inference: Continuous Monitoring of A/B Tests", Operations Research 70(3), 2022,
built on Robbins' normal-mixture martingale (Robbins, "Statistical methods related to the law
of the iterated logarithm", Annals of Mathematical Statistics 41(5), 1970). With

* ``theta_hat = mean_b - mean_a`` (the effect of B over A),
* ``V = var_a / n_a + var_b / n_b`` (the plug-in variance of ``theta_hat``),
* ``tau^2`` the variance of the normal mixture over effects (see below),

the mixture likelihood ratio of "effect = theta_hat - theta" against "effect = theta" is::

    Lambda(theta) = sqrt(V / (V + tau^2)) * exp(tau^2 * (theta_hat - theta)^2 / (2 V (V + tau^2)))

Under the null it is a non-negative martingale with mean 1, so by Ville's inequality it ever
exceeds ``1 / alpha`` with probability at most ``alpha``. Hence:

* the always-valid p-value at a look is ``min(1, 1 / Lambda(0))``, and the running minimum of
  these over the looks (:func:`running_p_value`) is still a valid p-value;
* the set of ``theta`` with ``Lambda(theta) < 1 / alpha`` is a ``(1 - alpha)`` confidence
  sequence, which solves to::

      theta_hat +/- sqrt(V (V + tau^2) / tau^2 * (2 ln(1 / alpha) + ln((V + tau^2) / V)))

  This is the normal-mixture boundary of Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform,
  nonparametric, nonasymptotic confidence sequences", Annals of Statistics 49(2), 2021
  (with ``V`` as the variance process). The interval contains 0 exactly when the
  p-value is at least ``alpha``, so "decisive" means the same thing for both.

A binary metric (converted or not) is the same test on 0/1 values: its mean is the rate and
its sample variance ``p (1 - p) n / (n - 1)``, with one safeguard. A small arm with a rare
event (10% of traffic, a 2% conversion rate) often has no conversion yet; its plug-in variance
is then 0, ``V`` collapses to A's term alone, and the test "sees" a precise effect of
``-rate_a`` and declares A better between identical models (27% of A/A experiments at
90/10 and 2%, looked at every 100 units up to 10,000; 0.05% with the safeguard). So for a binary metric ``V`` is the larger of the plug-in variance and the variance
under the null, ``p_pool (1 - p_pool) (1 / n_a + 1 / n_b)`` with the rate pooled over both
arms: the pooled term is what the score test uses and cannot be fooled by an empty arm, and
the maximum keeps the interval honest away from the null (the plug-in term is the larger one
there). ``tau^2`` likewise uses the pooled ``p_pool (1 - p_pool)``.

The mixture, in standard deviations
-----------------------------------
``tau`` is the effect size the test is tuned to find fastest (Johari et al. advise matching
the mixture to the effects past experiments actually had). A ``tau`` in the metric's own
units would mean different things for a 2% conversion rate and for revenue in euros, so we
set ``tau^2 = mixture_sd^2 * pooled variance``: ``mixture_sd`` is an effect size in standard
deviations of the metric (Cohen's d). The pooled variance, like ``V``, is estimated from the
data, which makes the guarantee asymptotic rather than exact (the plug-in Johari et al. use;
Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit theory and
asymptotic confidence sequences", Annals of Statistics, 2024, justify it). The simulation
tests check that the false-declaration rate stays below ``alpha`` on realistic traffic.

Also here: the naive fixed-horizon z test (kept only as the control in the peeking
simulation, never for decisions) and the sample-ratio-mismatch check, a chi-square
goodness-of-fit of the arms' unit counts against the designed split (Fabijan et al.,
"Diagnosing Sample Ratio Mismatch in Online Controlled Experiments", KDD 2019; Kohavi, Tang &
Xu, "Trustworthy Online Controlled Experiments", 2020, ch. 21). A mismatch means assignment or
logging is broken, and then no comparison of the arms can be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

# The power scenario this is tuned for: a 10% conversion rate lifted by 2 percentage points is
# 0.02 / sqrt(0.11 * 0.89) = 0.064 standard deviations, and two model versions both good enough
# to serve differ by effects of that order or smaller. A normal mixture finds effects near its
# own sd fastest: a smaller tau pays sqrt(V / (V + tau^2)) at every look until V is far below
# tau^2, a larger one spends its evidence on effects bigger than the ones that matter. Measured
# with simulation.simulate_peeking, 3,000 experiments each, median units (both arms) to declare,
# looks every 100 units (every 200 for +1 pp):
#   mixture_sd      0.03     0.05     0.064    0.1      0.15
#   +2 pp on 10%    9,100    7,600    7,300    7,300    7,600
#   +1 pp on 10%    29,400   29,000   29,600   31,800   34,500
#   +5 pp on 10%    2,900    2,100    1,800    1,600    1,500
# 0.05 is within 5% of the best for the +2 pp scenario and the best for smaller effects, where
# an experiment costs tens of thousands of units; large effects are found fast with any tau.
DEFAULT_MIXTURE_SD = 0.05
DEFAULT_ALPHA = 0.05
# The customary SRM threshold (Fabijan et al. 2019; Kohavi et al. 2020): strict, because the
# check runs at every look, and a real mismatch in thousands of units has a far smaller p.
SRM_ALERT_P = 0.001


@dataclass(frozen=True)
class ArmSummary:
    """What the test needs of one arm: units analysed, mean and sample variance of their values."""

    n: int
    mean: float  # NaN when n == 0
    variance: float  # sample variance (ddof=1); 0.0 when n < 2

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> ArmSummary:
        """From the per-unit values (0/1 for a binary metric); non-finite values are refused,
        since one NaN would silently make every later look undefined."""
        array = np.asarray(values, dtype=float)
        if array.ndim > 1:
            raise ValueError(f"per-unit values must be one-dimensional, got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError("per-unit values must be finite numbers (no NaN or infinity)")
        n = int(array.size)
        mean = float(array.mean()) if n else math.nan
        variance = float(array.var(ddof=1)) if n >= 2 else 0.0
        return cls(n, mean, variance)

    @classmethod
    def from_sums(cls, n: int, total: float, total_of_squares: float) -> ArmSummary:
        """From running sums (count, sum of values, sum of squared values), the form a store
        can keep up to date without the units. For 0/1 values both sums are the conversions."""
        mean, variance = arm_moments(n, total, total_of_squares)
        return cls(int(n), float(mean), float(variance))

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean": _finite_or_none(self.mean), "variance": _finite_or_none(self.variance)}


@dataclass(frozen=True)
class SequentialResult:
    """The mSPRT at one look: effect of B over A, always-valid interval and p-value."""

    a: ArmSummary
    b: ArmSummary
    effect: float  # mean_b - mean_a
    relative_effect: float | None  # effect / mean_a (None when mean_a is 0 or undefined)
    ci_low: float  # always-valid (1 - alpha) confidence sequence on the effect, at this look
    ci_high: float  # (-inf, inf) while the arms cannot be compared yet
    p_value: float  # always-valid p-value at this look = min(1, 1 / likelihood_ratio)
    likelihood_ratio: float  # the mixture likelihood ratio Lambda_n (inf if it overflows)
    alpha: float
    mixture_sd: float  # tau on the standardised scale
    decisive: bool  # p_value < alpha (the whole interval excludes 0)
    log_likelihood_ratio: float = 0.0  # ln Lambda_n, finite even when Lambda_n overflows
    effect_variance: float = math.nan  # V, the plug-in variance of the effect (NaN when undefined)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values: infinite or undefined numbers are None (an unbounded interval
        side, a likelihood ratio beyond floating point; ``log_likelihood_ratio`` stays finite)."""
        return {
            "a": self.a.as_dict(),
            "b": self.b.as_dict(),
            "effect": _finite_or_none(self.effect),
            "relative_effect": _finite_or_none(self.relative_effect),
            "ci_low": _finite_or_none(self.ci_low),
            "ci_high": _finite_or_none(self.ci_high),
            "p_value": _finite_or_none(self.p_value),
            "likelihood_ratio": _finite_or_none(self.likelihood_ratio),
            "log_likelihood_ratio": _finite_or_none(self.log_likelihood_ratio),
            "effect_variance": _finite_or_none(self.effect_variance),
            "alpha": self.alpha,
            "mixture_sd": self.mixture_sd,
            "decisive": self.decisive,
        }


# --- vectorised core (numpy arrays in, arrays out; the simulation runs on these) ----------


def arm_moments(n: Any, total: Any, total_of_squares: Any) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sample variance) from count, sum and sum of squares, element-wise.

    Mean is NaN where n == 0, variance 0 where n < 2. The subtraction ``sum_sq - sum^2 / n``
    loses precision when the mean is large against the spread; callers with such data should
    shift the values first (variance and differences of means do not change)."""
    n, total, total_of_squares = (np.asarray(x, dtype=float) for x in (n, total, total_of_squares))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, total / n, np.nan)
        # Clipped at 0: rounding can make the sum of squared deviations slightly negative.
        squared_deviations = np.maximum(total_of_squares - total * total / np.where(n > 0, n, 1.0), 0.0)
        variance = np.where(n >= 2, squared_deviations / (n - 1), 0.0)
    return mean, variance


def effect_variance(n_a: Any, variance_a: Any, n_b: Any, variance_b: Any) -> np.ndarray:
    """V = var_a / n_a + var_b / n_b, NaN where an arm has fewer than 2 units (no variance yet)."""
    n_a, variance_a, n_b, variance_b = (np.asarray(x, dtype=float) for x in (n_a, variance_a, n_b, variance_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n_a >= 2) & (n_b >= 2), variance_a / n_a + variance_b / n_b, np.nan)


def pooled_variance(n_a: Any, variance_a: Any, n_b: Any, variance_b: Any) -> np.ndarray:
    """The two arms' common variance, ((n_a - 1) var_a + (n_b - 1) var_b) / (n_a + n_b - 2);
    NaN where an arm has fewer than 2 units."""
    n_a, variance_a, n_b, variance_b = (np.asarray(x, dtype=float) for x in (n_a, variance_a, n_b, variance_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = ((n_a - 1) * variance_a + (n_b - 1) * variance_b) / (n_a + n_b - 2)
        return np.where((n_a >= 2) & (n_b >= 2), pooled, np.nan)


def test_variances(
    n_a: Any, mean_a: Any, variance_a: Any, n_b: Any, mean_b: Any, variance_b: Any, binary: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(V, the metric's common variance) for the test, element-wise; tau^2 is mixture_sd^2
    times the second. For a binary metric, V is at least the variance under the null and the
    common variance is the pooled rate's ``p (1 - p)`` (see the module's docstring)."""
    variance = effect_variance(n_a, variance_a, n_b, variance_b)
    if not binary:
        return variance, pooled_variance(n_a, variance_a, n_b, variance_b)
    n_a, mean_a, n_b, mean_b = (np.asarray(x, dtype=float) for x in (n_a, mean_a, n_b, mean_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (n_a * np.nan_to_num(mean_a) + n_b * np.nan_to_num(mean_b)) / (n_a + n_b)
        common = rate * (1.0 - rate)
        under_null = common * (1.0 / n_a + 1.0 / n_b)
    comparable = ~np.isnan(variance)  # both arms have 2 units or more
    return (
        np.where(comparable, np.maximum(variance, np.where(comparable, under_null, 0.0)), np.nan),
        np.where(comparable, common, np.nan),
    )


def mixture_log_likelihood_ratio(effect: Any, effect_variance: Any, mixture_variance: Any) -> np.ndarray:
    """ln Lambda for an observed effect, its variance V and the mixture variance tau^2, element-wise.

    ``ln Lambda = -1/2 ln(1 + tau^2 / V) + tau^2 effect^2 / (2 V (V + tau^2))``. Where V or
    tau^2 is not a positive finite number (an arm too small, both arms constant) nothing has
    been learned: ln Lambda = 0, i.e. Lambda = 1 and p = 1. Working in logs keeps a huge
    effect from overflowing."""
    effect, variance, tau2 = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (effect, effect_variance, mixture_variance))
    )
    comparable = np.isfinite(effect) & np.isfinite(variance) & (variance > 0) & np.isfinite(tau2) & (tau2 > 0)
    # Replaced by harmless values where not comparable, so no warning is raised for them.
    variance = np.where(comparable, variance, 1.0)
    tau2 = np.where(comparable, tau2, 1.0)
    effect = np.where(comparable, effect, 0.0)
    log_lr = -0.5 * np.log1p(tau2 / variance) + tau2 * effect * effect / (2.0 * variance * (variance + tau2))
    return np.where(comparable, log_lr, 0.0)


def confidence_half_width(effect_variance: Any, mixture_variance: Any, alpha: float) -> np.ndarray:
    """Half-width of the always-valid (1 - alpha) interval around the observed effect, element-wise:
    ``sqrt(V (V + tau^2) / tau^2 * (2 ln(1/alpha) + ln((V + tau^2) / V)))``; inf where the arms
    cannot be compared (same conditions as :func:`mixture_log_likelihood_ratio`)."""
    variance, tau2 = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (effect_variance, mixture_variance)))
    comparable = np.isfinite(variance) & (variance > 0) & np.isfinite(tau2) & (tau2 > 0)
    variance = np.where(comparable, variance, 1.0)
    tau2 = np.where(comparable, tau2, 1.0)
    squared = variance * (variance + tau2) / tau2 * (2.0 * math.log(1.0 / alpha) + np.log1p(tau2 / variance))
    return np.where(comparable, np.sqrt(squared), np.inf)


# --- one look ------------------------------------------------------------------------------


def msprt(
    a: ArmSummary,
    b: ArmSummary,
    alpha: float = DEFAULT_ALPHA,
    mixture_sd: float = DEFAULT_MIXTURE_SD,
    binary: bool = False,
) -> SequentialResult:
    """The mSPRT of "B's mean equals A's" at one look, with its always-valid interval;
    ``binary`` for 0/1 values (a conversion), which guards small arms with rare events."""
    _check_alpha(alpha)
    if not (math.isfinite(mixture_sd) and mixture_sd > 0):
        raise ValueError(f"mixture_sd must be a positive number, got {mixture_sd}")
    effect = b.mean - a.mean  # NaN when an arm is empty
    relative_effect = effect / a.mean if math.isfinite(a.mean) and a.mean != 0 and math.isfinite(effect) else None
    variance, common_variance = (float(x) for x in test_variances(a.n, a.mean, a.variance, b.n, b.mean, b.variance, binary))
    tau2 = mixture_sd**2 * common_variance
    log_lr = float(mixture_log_likelihood_ratio(effect, variance, tau2))
    half_width = float(confidence_half_width(variance, tau2, alpha))
    if math.isfinite(half_width) and math.isfinite(effect):
        ci_low, ci_high = effect - half_width, effect + half_width
    else:
        ci_low, ci_high = -math.inf, math.inf
    # exp overflows past ln Lambda ~ 709; the p-value is then 0 to double precision anyway.
    likelihood_ratio = math.exp(log_lr) if log_lr < 709.0 else math.inf
    p_value = min(1.0, math.exp(-log_lr))
    return SequentialResult(
        a=a,
        b=b,
        effect=effect,
        relative_effect=relative_effect,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        likelihood_ratio=likelihood_ratio,
        alpha=alpha,
        mixture_sd=mixture_sd,
        decisive=p_value < alpha,
        log_likelihood_ratio=log_lr,
        effect_variance=variance,
    )


def running_p_value(previous: float | None, current: float) -> float:
    """The always-valid p-value over all looks so far: the smallest one seen (Johari et al.). It can only go down; ``previous`` is None at the first look."""
    return current if previous is None else min(previous, current)


def fixed_horizon_z_test(a: ArmSummary, b: ArmSummary) -> tuple[float, float]:
    """(z, two-sided p) of the classical two-sample z test with unpooled variances.

    Valid only for ONE look at a sample size fixed in advance; kept as the control of the
    peeking simulation, to show what the always-valid test protects against. (0.0, 1.0)
    when the arms cannot be compared."""
    variance = float(effect_variance(a.n, a.variance, b.n, b.variance))
    effect = b.mean - a.mean
    if not (math.isfinite(variance) and variance > 0 and math.isfinite(effect)):
        return 0.0, 1.0
    z = effect / math.sqrt(variance)
    return z, float(2.0 * stats.norm.sf(abs(z)))


def sample_ratio_mismatch(observed: Sequence[int], expected_shares: Sequence[float]) -> tuple[float, float]:
    """(chi-square statistic, p-value) of the arms' unit counts against the designed split.

    ``expected_shares`` may be fractions, percents or basis points (they are normalised), e.g.
    (0.5, 0.5) or (9000, 1000). A p-value below :data:`SRM_ALERT_P` means units are not reaching
    the arms as designed. (0.0, 1.0) before any unit arrived."""
    counts = np.asarray(observed, dtype=float)
    shares = np.asarray(expected_shares, dtype=float)
    if counts.ndim != 1 or counts.shape != shares.shape or counts.size < 2:
        raise ValueError("observed counts and expected shares need one value per arm, for at least two arms")
    if not (np.all(np.isfinite(counts)) and np.all(counts >= 0)):
        raise ValueError(f"observed counts must be non-negative, got {list(observed)}")
    if not (np.all(np.isfinite(shares)) and np.all(shares > 0)):
        raise ValueError(f"expected shares must be positive, got {list(expected_shares)}")
    total = counts.sum()
    if total == 0:
        return 0.0, 1.0
    expected = total * shares / shares.sum()
    result = stats.chisquare(counts, expected)
    return float(result.statistic), float(result.pvalue)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
