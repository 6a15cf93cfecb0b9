"""The always-valid A/B statistics: simulated error rates and power, the closed forms checked
against independent computations, degenerate inputs, and the sample-ratio-mismatch check."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, stats

from hokusai_assets.lib.experiments.simulation import look_statistics, simulate_peeking
from hokusai_assets.lib.experiments.statistics import (
    DEFAULT_MIXTURE_SD,
    SRM_ALERT_P,
    ArmSummary,
    confidence_half_width,
    fixed_horizon_z_test,
    mixture_log_likelihood_ratio,
    msprt,
    pooled_variance,
    running_p_value,
    sample_ratio_mismatch,
)

ALPHA = 0.05


def binary_arm(n: int, conversions: int) -> ArmSummary:
    return ArmSummary.of([1.0] * conversions + [0.0] * (n - conversions))


def random_arm_pairs(count: int, seed: int) -> list[tuple[ArmSummary, ArmSummary]]:
    """Arm summaries spread over sizes, spreads and effects from nothing to obvious."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        n_a, n_b = rng.integers(2, 5_000, size=2)
        sd_a, sd_b = rng.uniform(0.1, 3.0, size=2)
        shift = rng.normal(0, 3) * math.hypot(sd_a / math.sqrt(n_a), sd_b / math.sqrt(n_b))
        a = ArmSummary(int(n_a), rng.normal(), sd_a**2)
        pairs.append((a, ArmSummary(int(n_b), a.mean + shift, sd_b**2)))
    return pairs


# --- simulation: what peeking does -------------------------------------------------------


def test_aa_binary_msprt_keeps_alpha_under_peeking_while_the_z_test_does_not():
    outcome = simulate_peeking(2_000, 100, 10_000, 0.10, 0.10, ALPHA, seed=11, kind="binary")
    se = outcome.monte_carlo_se
    assert se == pytest.approx(math.sqrt(ALPHA * (1 - ALPHA) / 2_000))
    print(
        f"\nA/A binary 10%: mSPRT declared {outcome.msprt_declared_share:.2%}, "
        f"fixed-horizon z test {outcome.fixed_horizon_declared_share:.2%} (alpha {ALPHA}, MC se {se:.4f})"
    )
    assert outcome.msprt_declared_share <= ALPHA + 3 * se
    assert outcome.fixed_horizon_declared_share > ALPHA + 3 * se
    # The bookkeeping agrees with itself: a declaration has a look and a direction, and vice versa.
    declared = ~np.isnan(outcome.units_at_declaration)
    assert np.array_equal(declared, outcome.sign_at_declaration != 0)
    assert declared.mean() == pytest.approx(outcome.msprt_declared_share)
    assert np.all(outcome.units_at_declaration[declared] % 100 == 0)
    assert np.all(outcome.units_at_declaration[declared] <= 10_000)


def test_aa_continuous_msprt_keeps_alpha_under_peeking_while_the_z_test_does_not():
    outcome = simulate_peeking(1_000, 100, 10_000, 3.0, 3.0, ALPHA, seed=12, kind="continuous")
    se = outcome.monte_carlo_se
    print(
        f"\nA/A continuous: mSPRT declared {outcome.msprt_declared_share:.2%}, "
        f"fixed-horizon z test {outcome.fixed_horizon_declared_share:.2%}"
    )
    assert outcome.msprt_declared_share <= ALPHA + 3 * se
    assert outcome.fixed_horizon_declared_share > ALPHA + 3 * se


def test_power_two_points_on_ten_percent_is_found_by_the_msprt():
    max_units = 20_000
    outcome = simulate_peeking(1_000, 100, max_units, 0.10, 0.12, ALPHA, seed=13, kind="binary")
    median = outcome.median_units_to_declare
    print(
        f"\nPower 10% -> 12%: B declared better in {outcome.share_declared(+1):.1%} within {max_units:,} units, "
        f"A in {outcome.share_declared(-1):.1%}; median units to declare {median:,.0f}"
    )
    assert outcome.share_declared(+1) >= 0.80
    assert outcome.share_declared(-1) <= ALPHA  # the wrong direction stays as rare as a false alarm
    assert median is not None and 0 < median <= max_units
    # Undeclared experiments count as slower than max_units, so the median is not conditional.
    declared = outcome.units_at_declaration[~np.isnan(outcome.units_at_declaration)]
    assert median >= np.median(declared)


def test_a_larger_effect_is_declared_sooner():
    small = simulate_peeking(300, 100, 20_000, 0.10, 0.12, ALPHA, seed=14)
    large = simulate_peeking(300, 100, 20_000, 0.10, 0.15, ALPHA, seed=14)
    assert large.median_units_to_declare < small.median_units_to_declare


def test_simulation_is_reproducible_from_its_seed():
    first = simulate_peeking(200, 100, 4_000, 0.1, 0.12, ALPHA, seed=5)
    again = simulate_peeking(200, 100, 4_000, 0.1, 0.12, ALPHA, seed=5)
    other = simulate_peeking(200, 100, 4_000, 0.1, 0.12, ALPHA, seed=6)
    assert np.array_equal(first.units_at_declaration, again.units_at_declaration, equal_nan=True)
    assert first.fixed_horizon_declared_share == again.fixed_horizon_declared_share
    assert not np.array_equal(first.units_at_declaration, other.units_at_declaration, equal_nan=True)


def test_aa_binary_with_a_small_arm_and_a_rare_event_keeps_alpha():
    """90/10 at a 2% conversion rate: B often has no conversion yet, and a test that trusted
    its plug-in variance of 0 would declare A better between identical models."""
    outcome = simulate_peeking(2_000, 100, 10_000, 0.02, 0.02, ALPHA, seed=15, kind="binary", a_share=0.9)
    se = outcome.monte_carlo_se
    print(f"\nA/A binary 2% at 90/10: mSPRT declared {outcome.msprt_declared_share:.2%}")
    assert outcome.msprt_declared_share <= ALPHA + 3 * se
    assert outcome.fixed_horizon_declared_share > ALPHA + 3 * se
    # What the safeguard prevents, on the same kind of data: the plug-in variance alone.
    rng = np.random.default_rng(15)
    values_a, values_b = ((rng.random((2_000, units)) < 0.02).astype(float) for units in (9_000, 1_000))
    plug_in = look_statistics(values_a, values_b, 90, 10, binary=False)
    assert (plug_in.log_likelihood_ratio > math.log(1 / ALPHA)).any(axis=1).mean() > ALPHA + 3 * se


def test_a_small_arm_without_conversions_is_not_evidence_against_it():
    a, b = binary_arm(900, 18), binary_arm(100, 0)  # 2% in A; B's 100 units have no conversion yet
    assert not msprt(a, b, binary=True).decisive
    assert msprt(a, b, binary=False).decisive  # the plug-in variance is 0 in B: falsely precise
    # Far from the null the safeguard costs nothing: the plug-in variance is the larger one.
    a, b = binary_arm(5_000, 500), binary_arm(5_000, 1_500)
    assert msprt(a, b, binary=True).ci_low == pytest.approx(msprt(a, b, binary=False).ci_low, rel=0.05)
    assert msprt(a, b, binary=True).decisive


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_vectorised_looks_equal_msprt_and_z_test_on_the_same_units(kind):
    rng = np.random.default_rng(21)
    if kind == "binary":
        values_a, values_b = ((rng.random((3, units)) < rate).astype(float) for rate, units in ((0.2, 90), (0.4, 30)))
    else:
        values_a, values_b = rng.normal(5, 2, (3, 90)), rng.normal(6, 2, (3, 30))
    looks = look_statistics(values_a, values_b, 15, 5, binary=kind == "binary")  # a 75/25 split
    assert np.array_equal(looks.units, np.arange(20, 121, 20))
    for experiment in range(3):
        for look, n in enumerate(range(5, 31, 5)):
            a, b = ArmSummary.of(values_a[experiment, : 3 * n]), ArmSummary.of(values_b[experiment, :n])
            result = msprt(a, b, binary=kind == "binary")
            assert looks.log_likelihood_ratio[experiment, look] == pytest.approx(result.log_likelihood_ratio, abs=1e-9)
            assert looks.effect[experiment, look] == pytest.approx(result.effect, abs=1e-12)
            assert looks.z[experiment, look] == pytest.approx(fixed_horizon_z_test(a, b)[0], abs=1e-9)


# --- the closed forms, checked independently ----------------------------------------------


def mixture_integral(effect: float, variance: float, tau2: float) -> float:
    """Lambda by its definition: the likelihood ratio N(effect; theta, V) / N(effect; 0, V)
    averaged over theta ~ N(0, tau^2), integrated numerically."""

    def integrand(theta: float) -> float:
        log_ratio = (effect**2 - (effect - theta) ** 2) / (2 * variance)
        return math.exp(log_ratio) * stats.norm.pdf(theta, 0, math.sqrt(tau2))

    sd = math.sqrt(tau2)
    value, _ = integrate.quad(integrand, -12 * sd, 12 * sd, points=[effect], limit=200)
    return value


def test_likelihood_ratio_equals_the_mixture_integral_it_stands_for():
    for effect, variance, tau2 in [(0.01, 1e-4, 5e-4), (-0.03, 2e-4, 1e-4), (0.0, 1e-3, 2e-3), (0.05, 4e-4, 1e-3)]:
        closed = math.exp(float(mixture_log_likelihood_ratio(effect, variance, tau2)))
        assert closed == pytest.approx(mixture_integral(effect, variance, tau2), rel=1e-6)


def test_likelihood_ratio_matches_johari_et_al_two_sample_form():
    """Their form for equal arms of n units with known variance sigma^2 (Operations Research 2022):
    sqrt(2 s2 / (2 s2 + n tau2)) * exp(n^2 tau2 d^2 / (4 s2 (2 s2 + n tau2)))."""
    n, sigma2, tau2, effect = 800, 0.09, 0.0004, 0.025
    johari = math.sqrt(2 * sigma2 / (2 * sigma2 + n * tau2)) * math.exp(
        n**2 * tau2 * effect**2 / (4 * sigma2 * (2 * sigma2 + n * tau2))
    )
    ours = math.exp(float(mixture_log_likelihood_ratio(effect, 2 * sigma2 / n, tau2)))
    assert ours == pytest.approx(johari, rel=1e-12)


def test_the_interval_bounds_are_where_the_likelihood_ratio_reaches_one_over_alpha():
    for a, b in random_arm_pairs(50, seed=1):
        for alpha in (0.01, 0.05, 0.2):
            result = msprt(a, b, alpha=alpha)
            tau2 = DEFAULT_MIXTURE_SD**2 * float(pooled_variance(a.n, a.variance, b.n, b.variance))
            for bound in (result.ci_low, result.ci_high):
                # Lambda of "the effect is `bound`" evaluated on the shifted estimate.
                shifted = float(mixture_log_likelihood_ratio(result.effect - bound, result.effect_variance, tau2))
                assert shifted == pytest.approx(math.log(1 / alpha), rel=1e-9)
            # Inside the interval the ratio stays below 1/alpha.
            centre = float(mixture_log_likelihood_ratio(0.0, result.effect_variance, tau2))
            assert centre < math.log(1 / alpha)


def test_interval_contains_zero_exactly_when_p_is_at_least_alpha():
    seen = {True: 0, False: 0}
    for a, b in random_arm_pairs(400, seed=2):
        for alpha in (0.01, 0.05, 0.1):
            result = msprt(a, b, alpha=alpha)
            contains_zero = result.ci_low <= 0 <= result.ci_high
            assert contains_zero == (result.p_value >= alpha)
            assert result.decisive == (not contains_zero)
            seen[result.decisive] += 1
    assert min(seen.values()) > 50  # both outcomes were exercised


def test_always_valid_interval_is_wider_than_the_fixed_horizon_one():
    z = stats.norm.isf(ALPHA / 2)
    for a, b in random_arm_pairs(100, seed=3):
        result = msprt(a, b, alpha=ALPHA)
        fixed_half_width = z * math.sqrt(a.variance / a.n + b.variance / b.n)
        assert result.ci_high - result.effect > fixed_half_width
        assert result.effect - result.ci_low > fixed_half_width
        assert (result.ci_low + result.ci_high) / 2 == pytest.approx(result.effect)


def test_smaller_alpha_gives_a_wider_interval():
    a, b = binary_arm(4_000, 400), binary_arm(4_000, 460)
    widths = [msprt(a, b, alpha=alpha).ci_high - msprt(a, b, alpha=alpha).ci_low for alpha in (0.2, 0.05, 0.01)]
    assert widths[0] < widths[1] < widths[2]


def test_the_mixture_is_scale_free():
    rng = np.random.default_rng(4)
    values_a, values_b = rng.normal(10, 2, 700), rng.normal(10.3, 2, 650)
    base = msprt(ArmSummary.of(values_a), ArmSummary.of(values_b))
    scaled = msprt(ArmSummary.of(values_a * 1000), ArmSummary.of(values_b * 1000))
    assert scaled.p_value == pytest.approx(base.p_value, rel=1e-9)
    assert scaled.ci_low == pytest.approx(base.ci_low * 1000, rel=1e-9)
    assert scaled.ci_high == pytest.approx(base.ci_high * 1000, rel=1e-9)


def test_effect_sign_and_relative_effect():
    a, b = binary_arm(5_000, 500), binary_arm(5_000, 600)
    better = msprt(a, b)
    assert better.effect == pytest.approx(0.02)
    assert better.relative_effect == pytest.approx(0.2)
    assert better.ci_low < better.effect < better.ci_high
    worse = msprt(b, a)
    assert worse.effect < 0 and worse.relative_effect == pytest.approx(-0.02 / 0.12)


def test_swapping_the_arms_negates_the_effect_and_keeps_the_p_value():
    for a, b in random_arm_pairs(30, seed=5):
        forward, backward = msprt(a, b), msprt(b, a)
        assert backward.effect == pytest.approx(-forward.effect)
        assert backward.p_value == pytest.approx(forward.p_value, rel=1e-12)
        assert backward.ci_low == pytest.approx(-forward.ci_high)
        assert backward.ci_high == pytest.approx(-forward.ci_low)


def test_a_huge_effect_is_decisive():
    result = msprt(binary_arm(2_000, 200), binary_arm(2_000, 1_000))
    assert result.decisive and result.p_value < 1e-12 and result.ci_low > 0
    assert result.likelihood_ratio == pytest.approx(1 / result.p_value)


def test_a_likelihood_ratio_beyond_floating_point_stays_serialisable():
    result = msprt(binary_arm(100_000, 1_000), binary_arm(100_000, 90_000))
    assert result.likelihood_ratio == math.inf and result.p_value == 0.0 and result.decisive
    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert data["likelihood_ratio"] is None
    assert data["log_likelihood_ratio"] > 709
    assert data["ci_low"] > 0


def test_no_difference_is_not_decisive():
    result = msprt(binary_arm(3_000, 300), binary_arm(3_000, 300))
    assert result.effect == 0 and not result.decisive
    assert result.p_value == 1.0  # Lambda < 1 when the estimate is exactly 0: p is capped at 1
    assert result.ci_low < 0 < result.ci_high


@pytest.mark.parametrize(
    "a, b",
    [
        (ArmSummary.of([]), ArmSummary.of([0.0, 1.0, 1.0])),  # an empty arm
        (ArmSummary.of([]), ArmSummary.of([])),
        (ArmSummary.of([1.0]), ArmSummary.of([0.0, 1.0, 0.0])),  # one unit: no variance yet
        (ArmSummary.of([0.0] * 500), ArmSummary.of([0.0] * 500)),  # nobody converted anywhere
        (ArmSummary.of([0.0] * 50), ArmSummary.of([1.0] * 50)),  # both constant: V = 0
    ],
)
def test_degenerate_inputs_give_p_one_and_an_unbounded_interval(a, b):
    result = msprt(a, b)
    assert result.p_value == 1.0 and result.likelihood_ratio == 1.0 and not result.decisive
    assert (result.ci_low, result.ci_high) == (-math.inf, math.inf)
    assert fixed_horizon_z_test(a, b) == (0.0, 1.0)
    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert data["ci_low"] is None and data["ci_high"] is None and data["p_value"] == 1.0


def test_as_dict_is_plain_json():
    result = msprt(binary_arm(1_000, 100), binary_arm(1_000, 130))
    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert data["a"] == {"n": 1_000, "mean": 0.1, "variance": pytest.approx(0.1 * 0.9 * 1_000 / 999)}
    assert data["effect"] == pytest.approx(0.03)
    assert data["ci_low"] == result.ci_low and data["p_value"] == result.p_value
    assert data["decisive"] is result.decisive and data["mixture_sd"] == DEFAULT_MIXTURE_SD
    assert msprt(ArmSummary.of([0.0, 0.0]), ArmSummary.of([0.0, 1.0])).as_dict()["relative_effect"] is None


def test_arm_summary_of_binary_values_and_of_running_sums():
    summary = binary_arm(250, 40)
    assert summary.n == 250 and summary.mean == pytest.approx(0.16)
    assert summary.variance == pytest.approx(0.16 * 0.84 * 250 / 249)  # p (1 - p) n / (n - 1)
    from_conversions = ArmSummary.from_sums(250, 40, 40)  # for 0/1 values both sums are the conversions
    assert from_conversions.n == 250 and from_conversions.mean == pytest.approx(summary.mean)
    assert from_conversions.variance == pytest.approx(summary.variance)
    values = np.random.default_rng(7).normal(3, 2, 123)
    from_sums = ArmSummary.from_sums(123, values.sum(), (values**2).sum())
    assert from_sums.mean == pytest.approx(values.mean()) and from_sums.variance == pytest.approx(values.var(ddof=1))
    assert ArmSummary.of([]).variance == 0.0 and math.isnan(ArmSummary.of([]).mean)
    assert ArmSummary.from_sums(1, 5.0, 25.0) == ArmSummary(1, 5.0, 0.0)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        ArmSummary.of([0.0, math.nan])
    with pytest.raises(ValueError):
        ArmSummary.of([[0.0, 1.0]])
    a, b = binary_arm(10, 1), binary_arm(10, 2)
    for alpha in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError):
            msprt(a, b, alpha=alpha)
    with pytest.raises(ValueError):
        msprt(a, b, mixture_sd=0.0)
    with pytest.raises(ValueError):
        simulate_peeking(10, 99, 1_000, 0.1, 0.1)  # odd looks cannot split units evenly


def test_running_p_value_only_goes_down():
    assert running_p_value(None, 0.4) == 0.4
    assert running_p_value(0.4, 0.7) == 0.4
    assert running_p_value(0.4, 0.01) == 0.01


def test_fixed_horizon_z_is_the_welch_statistic_with_a_normal_p_value():
    rng = np.random.default_rng(8)
    values_a, values_b = rng.normal(0, 1, 400), rng.normal(0.2, 1.5, 300)
    z, p = fixed_horizon_z_test(ArmSummary.of(values_a), ArmSummary.of(values_b))
    welch = stats.ttest_ind(values_b, values_a, equal_var=False)
    assert z == pytest.approx(welch.statistic, rel=1e-12)
    assert p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-12)


def test_vectorised_core_marks_what_cannot_be_compared():
    log_lr = mixture_log_likelihood_ratio([0.1, 0.1, 0.1, math.nan], [0.0, math.nan, 1e-3, 1e-3], 1e-3)
    assert log_lr[0] == 0.0 and log_lr[1] == 0.0 and log_lr[3] == 0.0 and log_lr[2] > 0
    half = confidence_half_width([0.0, 1e-3], [1e-3, 0.0], ALPHA)
    assert np.all(np.isinf(half))


# --- sample ratio mismatch --------------------------------------------------------------------


def chi_square_by_hand(observed: list[int], shares: list[float]) -> float:
    total = sum(observed)
    return sum((o - total * s) ** 2 / (total * s) for o, s in zip(observed, shares, strict=True))


def test_srm_balanced_counts_are_fine():
    statistic, p = sample_ratio_mismatch([5_000, 5_000], [0.5, 0.5])
    assert statistic == 0.0 and p == pytest.approx(1.0) and p >= SRM_ALERT_P


def test_srm_flags_a_ten_percent_shortfall():
    statistic, p = sample_ratio_mismatch([5_000, 4_500], [0.5, 0.5])
    by_hand = chi_square_by_hand([5_000, 4_500], [0.5, 0.5])
    assert statistic == pytest.approx(by_hand) and by_hand == pytest.approx(2 * 250**2 / 4_750)
    # One degree of freedom: P(chi2_1 > x) = P(|Z| > sqrt(x)) = erfc(sqrt(x / 2)).
    assert p == pytest.approx(math.erfc(math.sqrt(by_hand / 2)), rel=1e-9)
    assert p < SRM_ALERT_P


def test_srm_respects_an_unequal_design():
    statistic, p = sample_ratio_mismatch([9_000, 1_000], [90, 10])
    assert statistic == pytest.approx(0.0, abs=1e-9) and p >= SRM_ALERT_P
    # The same counts against a 50/50 design are a glaring mismatch; shares in any unit agree.
    assert sample_ratio_mismatch([9_000, 1_000], [0.5, 0.5])[1] < SRM_ALERT_P
    assert sample_ratio_mismatch([8_900, 1_100], [9_000, 1_000]) == pytest.approx(
        sample_ratio_mismatch([8_900, 1_100], [0.9, 0.1])
    )
    slightly_off = sample_ratio_mismatch([8_950, 1_050], [0.9, 0.1])
    assert slightly_off[0] == pytest.approx(chi_square_by_hand([8_950, 1_050], [0.9, 0.1]))
    assert slightly_off[1] == pytest.approx(math.erfc(math.sqrt(slightly_off[0] / 2)), rel=1e-9)


def test_srm_with_three_arms_matches_the_two_degrees_of_freedom_tail():
    observed, shares = [3_400, 3_300, 3_100], [1 / 3, 1 / 3, 1 / 3]
    statistic, p = sample_ratio_mismatch(observed, shares)
    assert statistic == pytest.approx(chi_square_by_hand(observed, shares))
    assert p == pytest.approx(math.exp(-statistic / 2), rel=1e-9)  # chi2 with 2 df: P(X > x) = e^(-x/2)


def test_srm_before_any_unit_and_bad_inputs():
    assert sample_ratio_mismatch([0, 0], [0.5, 0.5]) == (0.0, 1.0)
    with pytest.raises(ValueError):
        sample_ratio_mismatch([10, 10], [1.0])
    with pytest.raises(ValueError):
        sample_ratio_mismatch([10, -1], [0.5, 0.5])
    with pytest.raises(ValueError):
        sample_ratio_mismatch([10, 10], [1.0, 0.0])
