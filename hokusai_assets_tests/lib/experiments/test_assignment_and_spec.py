"""The pure parts of A/B experiments: sticky keyed assignment, what a user types (split,
guardrails, the spec), the decision order, the per-arm traffic counters and outcome parsing.

Expected values are computed here independently (HMAC with ``hmac``/``hashlib``, quantiles
by sorting, binomial standard errors), never read back from the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from hokusai_assets.lib.experiments.assignment import ARM_A, ARM_B, BUCKETS, arm_of_bucket, assign, unit_key
from hokusai_assets.lib.experiments.decisions import (
    A_BETTER,
    B_BETTER,
    CONTINUE,
    GUARDRAIL_BREACH,
    PROMOTE,
    ROLLBACK,
    SAMPLE_RATIO_MISMATCH,
    Decision,
    automatic_action,
    decide,
    guardrail_breaches,
)
from hokusai_assets.lib.experiments.outcomes import (
    MAX_ABS_VALUE,
    MAX_EVENT_ID,
    MAX_EVENTS,
    MAX_UNIT_ID,
    OutcomeEvent,
    check_unit_id,
    parse_outcomes,
)
from hokusai_assets.lib.experiments.spec import (
    GUARDRAIL_METRICS,
    Arm,
    ExperimentError,
    ExperimentSpec,
    Guardrail,
    parse_split,
)
from hokusai_assets.lib.experiments.statistics import SRM_ALERT_P, ArmSummary, msprt, sample_ratio_mismatch
from hokusai_assets.lib.experiments.traffic import LATENCY_BOUNDS_MS, LATENCY_CEILING_MS, ArmTraffic
from hokusai_assets_tests.lib.experiments.factories import A, fixed_salt, make_spec


def reference_bucket(salt: bytes, unit_id: str) -> int:
    """The documented bucket, computed without the module: HMAC-SHA256 hex as an integer mod 10 000."""
    digest = hmac.new(salt, unit_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return int(digest, 16) % 10_000


# Any unicode text, lone surrogates included (a Python caller can pass them; JSON's \ud800 too).
# st.characters() never draws surrogates, so they are mixed in explicitly.
any_unit_id = st.text(st.characters() | st.integers(0xD800, 0xDFFF).map(chr), min_size=1, max_size=40)
salts = st.binary(min_size=1, max_size=64)


# --- assignment ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(salt=salts, unit_id=any_unit_id, a_bps=st.integers(1, BUCKETS - 1))
def test_assignment_is_the_documented_hmac_bucket_against_the_basis_points(salt, unit_id, a_bps):
    arm, key = assign(salt, unit_id, a_bps)
    expected_hex = hmac.new(salt, unit_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    assert key == expected_hex
    assert arm == (ARM_A if reference_bucket(salt, unit_id) < a_bps else ARM_B)
    # Sticky: nothing but salt, unit and split matter.
    assert assign(salt, unit_id, a_bps) == (arm, key)
    assert unit_key(salt, unit_id) == key


@settings(max_examples=100, deadline=None)
@given(salt=salts, unit_id=any_unit_id)
def test_the_boundary_bucket_goes_to_b(salt, unit_id):
    """A unit in bucket k is A exactly when k < a_bps: at a_bps = k it flips to B."""
    bucket = reference_bucket(salt, unit_id)
    assume(0 < bucket < BUCKETS - 1)
    assert assign(salt, unit_id, bucket)[0] == ARM_B
    assert assign(salt, unit_id, bucket + 1)[0] == ARM_A
    assert arm_of_bucket(bucket, bucket) == ARM_B and arm_of_bucket(bucket - 1, bucket) == ARM_A


@settings(max_examples=100, deadline=None)
@given(salt=salts, first=any_unit_id, second=any_unit_id)
def test_distinct_unit_ids_get_distinct_keys_even_with_lone_surrogates(salt, first, second):
    assume(first != second)
    assert unit_key(salt, first) != unit_key(salt, second)


def test_a_lone_surrogate_is_assigned_and_differs_from_its_replacement_character():
    salt = fixed_salt("surrogate")
    for unit_id in ("\ud800", "user-\udfff", "\ud83d"):
        arm, key = assign(salt, unit_id, 5000)
        assert arm in (ARM_A, ARM_B) and len(key) == 64
        assert key != unit_key(salt, unit_id.encode("utf-8", "replace").decode("utf-8"))


@settings(max_examples=100, deadline=None)
@given(salt=salts, unit_id=st.emails() | st.text(min_size=1, max_size=60))
def test_the_unit_key_is_opaque_hex_and_never_holds_the_unit_id(salt, unit_id):
    key = unit_key(salt, unit_id)
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")
    if len(unit_id.encode()) >= 8:  # shorter ids could show up in 64 hex digits by chance
        assert unit_id.encode().hex() not in key
    if not set(unit_id) <= set("0123456789abcdef") or len(unit_id) >= 8:
        assert unit_id not in key
    # The same unit under another experiment's salt is another pseudonym. (Flip a bit: HMAC
    # pads short keys with zeros, so appending a zero byte would not change the salt.)
    assert unit_key(bytes([salt[0] ^ 1]) + salt[1:], unit_id) != key


@pytest.mark.parametrize("split", ["50/50", "90/10", "99/1"])
def test_share_of_b_over_20000_units_is_within_three_standard_errors(split):
    a_bps, b_bps = parse_split(split)
    salt = fixed_salt(split)
    n = 20_000
    in_b = sum(assign(salt, f"user-{i}", a_bps)[0] == ARM_B for i in range(n))
    p = b_bps / BUCKETS
    se = math.sqrt(p * (1 - p) / n)
    assert abs(in_b / n - p) <= 3 * se, (in_b / n, p, se)


@pytest.mark.parametrize("split", ["50/50", "90/10"])
def test_different_salts_assign_independently(split):
    """Two experiments' assignments of the same units look like independent coin flips:
    the 2x2 table of (arm in experiment 1, arm in experiment 2) passes a chi-square test of
    independence, and the share in B/B is near the product of the shares."""
    a_bps, b_bps = parse_split(split)
    first, second = fixed_salt(f"one-{split}"), fixed_salt(f"two-{split}")
    n = 20_000
    table = [[0, 0], [0, 0]]
    for i in range(n):
        unit = f"u{i}@example.com"
        table[assign(first, unit, a_bps)[0] == ARM_B][assign(second, unit, a_bps)[0] == ARM_B] += 1
    _, p_value, _, _ = stats.chi2_contingency(table)
    assert p_value > 0.001, table
    p_bb = (b_bps / BUCKETS) ** 2
    assert abs(table[1][1] / n - p_bb) <= 4 * math.sqrt(p_bb * (1 - p_bb) / n), table
    # And a copy of a salt is not "another" salt: it reproduces every assignment.
    assert all(assign(first, f"u{i}", a_bps) == assign(bytes(first), f"u{i}", a_bps) for i in range(200))


# --- parse_split ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90/10", (9000, 1000)),
        ("50/50", (5000, 5000)),
        ("99.5/0.5", (9950, 50)),
        ("0.01/99.99", (1, 9999)),
        ("33.33/66.67", (3333, 6667)),
        (" 10 / 90 ", (1000, 9000)),
    ],
)
def test_parse_split_gives_basis_points(text, expected):
    a_bps, b_bps = parse_split(text)
    assert (a_bps, b_bps) == expected
    assert a_bps + b_bps == BUCKETS


@pytest.mark.parametrize(
    "text",
    [
        "100/0",
        "0/100",
        "60/30",
        "abc",
        "50/50/0",
        "50",
        "",
        "/",
        "50/",
        "nan/nan",
        "inf/-inf",
        "nan/100",
        "110/-10",
        "99.999/0.001",
        "50/50%",
    ],
)
def test_parse_split_rejects(text):
    with pytest.raises(ExperimentError) as caught:
        parse_split(text)
    assert caught.value.code == "E_AB_SPLIT"
    assert "split" in caught.value.message


@settings(max_examples=200, deadline=None)
@given(a_bps=st.integers(1, BUCKETS - 1))
def test_parse_split_inverts_the_spec_split_text(a_bps):
    spec = make_spec(a_bps=a_bps)
    assert parse_split(spec.split) == (a_bps, BUCKETS - a_bps)


# --- Guardrail -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold"),
    [
        ("latency_p99_ms<=50", "latency_p99_ms", "<=", 50.0),
        ("  latency_p99_ms  <=  50  ", "latency_p99_ms", "<=", 50.0),
        ("latency_p50_ms < 12.5", "latency_p50_ms", "<", 12.5),
        ("error_rate>=0", "error_rate", ">=", 0.0),
        ("error_rate > 1e-3", "error_rate", ">", 0.001),
        ("latency_p50_ms>=2E2", "latency_p50_ms", ">=", 200.0),
    ],
)
def test_guardrail_parses_the_four_operators_with_or_without_spaces(text, metric, op, threshold):
    guardrail = Guardrail.parse(text)
    assert (guardrail.metric, guardrail.op, guardrail.threshold) == (metric, op, threshold)
    assert Guardrail.parse(str(guardrail)) == guardrail


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("latency_p95_ms<=50", "latency_p99_ms"),  # unknown metric: the measured ones are listed
        ("cpu<=1", "error_rate"),
        ("latency_p99_ms<=5.0.1", "finite number"),
        ("latency_p99_ms<=-", "finite number"),
        ("latency_p99_ms<=1e999", "finite number"),  # overflows to inf
        ("latency_p99_ms<=inf", "latency_p99_ms<=50"),  # not a number at all: the form is shown
        ("error_rate<=nan", "latency_p99_ms<=50"),
        ("latency_p99_ms<=", "latency_p99_ms<=50"),
        ("latency_p99_ms=<50", "latency_p99_ms<=50"),
        ("latency_p99_ms==50", "latency_p99_ms<=50"),
        ("Latency_P99_ms<=50", "latency_p99_ms<=50"),
        ("", "latency_p99_ms<=50"),
        ("latency_p99_ms<=60000", "between 0 and 60000 ms"),  # slower requests share one bucket
        ("latency_p50_ms<=0", "between 0 and 60000 ms"),
    ],
)
def test_guardrail_rejects_with_a_helpful_message(text, hint):
    with pytest.raises(ExperimentError) as caught:
        Guardrail.parse(text)
    assert caught.value.code == "E_AB_GUARDRAIL"
    assert hint in caught.value.message


@pytest.mark.parametrize(
    ("op", "below", "at", "above"),
    [("<=", True, True, False), ("<", True, False, False), (">=", False, True, True), (">", False, False, True)],
)
def test_guardrail_holds_at_the_boundary(op, below, at, above):
    threshold = 50.0
    guardrail = Guardrail.parse(f"latency_p99_ms{op}{threshold}")
    assert guardrail.holds(math.nextafter(threshold, -math.inf)) is below
    assert guardrail.holds(threshold) is at
    assert guardrail.holds(math.nextafter(threshold, math.inf)) is above


@pytest.mark.parametrize(
    "text", ["latency_p99_ms<=12345.67", "latency_p99_ms<=50.1234567", "error_rate<=0.00123456789", "error_rate<1e-300"]
)
def test_a_guardrail_threshold_survives_the_spec_round_trip_exactly(text):
    """What the store keeps is ``as_dict`` as JSON: a threshold needing more than 6 digits must
    come back unchanged (a ``:g`` rendering would turn 12345.67 into 12345.7)."""
    guardrail = Guardrail.parse(text)
    assert guardrail.threshold == float(text.split("=")[-1].split("<")[-1])
    spec = make_spec(guardrails=(guardrail,))
    assert ExperimentSpec.from_dict(json.loads(json.dumps(spec.as_dict()))) == spec
    assert str(Guardrail.parse("latency_p99_ms<=50")) == "latency_p99_ms<=50"  # short when exact


def thresholds_of(metric: str) -> st.SearchStrategy[float]:
    """What a guardrail on ``metric`` may have: latency bounds stay under the slowest bucket."""
    if metric.startswith("latency_"):
        return st.floats(0, LATENCY_CEILING_MS, exclude_min=True, exclude_max=True)
    return st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    metric_and_threshold=st.sampled_from(sorted(GUARDRAIL_METRICS)).flatmap(
        lambda metric: st.tuples(st.just(metric), thresholds_of(metric))
    ),
    op=st.sampled_from(["<=", "<", ">=", ">"]),
)
def test_any_finite_guardrail_round_trips_through_its_text(metric_and_threshold, op):
    metric, threshold = metric_and_threshold
    guardrail = Guardrail(metric, op, threshold)
    again = Guardrail.parse(str(guardrail))
    assert again == guardrail and again.threshold == threshold


# --- ExperimentSpec ------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)
metrics = st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True)
guardrails = st.sampled_from(sorted(GUARDRAIL_METRICS)).flatmap(
    lambda metric: st.builds(
        Guardrail,
        st.just(metric),
        st.sampled_from(["<=", "<", ">=", ">"]),
        st.integers(1, 59_999).map(float) | thresholds_of(metric),
    )
)


@st.composite
def specs(draw) -> ExperimentSpec:
    shadow = draw(st.booleans())
    return ExperimentSpec(
        id=draw(st.from_regex(r"ab-[0-9a-f]{10}", fullmatch=True)),
        name=draw(names),
        model=draw(st.text(min_size=1, max_size=30)),
        a=Arm(draw(st.sampled_from(["champion", "3"])), "3", "sha256:" + "1" * 64, "p1"),
        b=Arm(draw(st.sampled_from(["challenger", "7"])), "7", "sha256:" + "2" * 64, "p2"),
        a_bps=draw(st.integers(1, BUCKETS - 1)),
        metric=draw(metrics),
        kind=draw(st.sampled_from(["binary", "continuous"])),
        shadow=shadow,
        higher_is_better=draw(st.booleans()),
        guardrails=tuple(draw(st.lists(guardrails, max_size=3))),
        min_units=draw(st.integers(2, 10_000)),
        guardrail_min_requests=draw(st.integers(1, 10_000)),
        alpha=draw(st.floats(0.001, 0.49)),
        auto_promote=False if shadow else draw(st.booleans()),
        auto_rollback=draw(st.booleans()),
    )


@settings(max_examples=100, deadline=None)
@given(spec=specs())
def test_spec_round_trips_through_as_dict_and_json(spec):
    data = json.loads(json.dumps(spec.as_dict(), sort_keys=True))
    assert ExperimentSpec.from_dict(data) == spec
    assert data["split"] == spec.split and parse_split(spec.split) == (spec.a_bps, spec.b_bps)


def test_spec_rejects_the_same_version_in_both_arms():
    with pytest.raises(ExperimentError) as caught:
        make_spec(b=Arm("staging", A.version, A.model_digest, A.partition))
    assert caught.value.code == "E_AB_SAME_VERSION"
    assert A.version in caught.value.message


def test_shadow_cannot_auto_promote_but_may_auto_rollback():
    with pytest.raises(ExperimentError) as caught:
        make_spec(shadow=True, auto_promote=True)
    assert caught.value.code == "E_AB_SHADOW"
    assert make_spec(shadow=True, auto_rollback=True).auto_rollback


@pytest.mark.parametrize("name", ["two words", "line\nbreak", "trailing\n", "x" * 65, "", "-leading", "é"])
def test_spec_rejects_bad_names(name):
    with pytest.raises(ExperimentError) as caught:
        make_spec(name=name)
    assert caught.value.code == "E_AB_NAME"


def test_spec_accepts_a_64_character_name():
    assert make_spec(name="n" * 64).name == "n" * 64


@pytest.mark.parametrize("metric", ["Conversion", "1st", "click-rate", "click rate", "", "x" * 65, "rate\n"])
def test_spec_rejects_bad_metric_names(metric):
    with pytest.raises(ExperimentError) as caught:
        make_spec(metric=metric)
    assert caught.value.code == "E_AB_METRIC"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"kind": "ordinal"}, "E_AB_METRIC"),
        ({"a_bps": 0}, "E_AB_SPLIT"),
        ({"a_bps": BUCKETS}, "E_AB_SPLIT"),
        ({"alpha": 0.5}, "E_AB_ALPHA"),
        ({"alpha": math.nan}, "E_AB_ALPHA"),
        ({"min_units": 1}, "E_AB_MIN_UNITS"),
        ({"guardrail_min_requests": 0}, "E_AB_MIN_UNITS"),
    ],
)
def test_spec_rejects_other_bad_settings(overrides, code):
    with pytest.raises(ExperimentError) as caught:
        make_spec(**overrides)
    assert caught.value.code == code


# --- decisions -----------------------------------------------------------------------------


def binary_arm(n: int, conversions: int) -> ArmSummary:
    return ArmSummary.of([1.0] * conversions + [0.0] * (n - conversions))


B_WINS = msprt(binary_arm(2000, 200), binary_arm(2000, 400))  # 10% vs 20%: decisive, B higher
A_WINS = msprt(binary_arm(2000, 400), binary_arm(2000, 200))
NOTHING = msprt(binary_arm(2000, 200), binary_arm(2000, 201))
SRM_P = sample_ratio_mismatch((2300, 1700), (0.5, 0.5))[1]
NO_SRM_P = sample_ratio_mismatch((2000, 2000), (0.5, 0.5))[1]
SLOW_B = {"latency_p50_ms": 20.0, "latency_p99_ms": 300.0, "error_rate": 0.0}
FAST_B = {"latency_p50_ms": 2.0, "latency_p99_ms": 10.0, "error_rate": 0.0}
P99 = (Guardrail.parse("latency_p99_ms<=50"),)


def test_the_fixtures_mean_what_the_decision_tests_assume():
    assert B_WINS.decisive and B_WINS.effect > 0
    assert A_WINS.decisive and A_WINS.effect < 0
    assert not NOTHING.decisive
    assert SRM_P < SRM_ALERT_P < NO_SRM_P


def test_a_sample_ratio_mismatch_beats_a_breach_and_a_winner():
    spec = make_spec(guardrails=P99, guardrail_min_requests=10)
    decision = decide(spec, B_WINS, SRM_P, SLOW_B, b_requests=1000)
    assert decision.outcome == SAMPLE_RATIO_MISMATCH
    # The breach is still named, so that it still rolls back when allowed.
    assert len(decision.breaches) == 1 and "latency_p99_ms" in decision.breaches[0]
    assert automatic_action(make_spec(guardrails=P99, auto_rollback=True), decision) == ROLLBACK
    assert decide(spec, B_WINS, SRM_P, FAST_B, b_requests=1000).breaches == ()


def test_a_guardrail_breach_beats_a_winner():
    spec = make_spec(guardrails=P99, guardrail_min_requests=10)
    decision = decide(spec, B_WINS, NO_SRM_P, SLOW_B, b_requests=1000)
    assert decision.outcome == GUARDRAIL_BREACH
    assert len(decision.breaches) == 1 and "latency_p99_ms" in decision.breaches[0]
    # Without the breach the same numbers declare B.
    assert decide(spec, B_WINS, NO_SRM_P, FAST_B, b_requests=1000).outcome == B_BETTER


def test_no_srm_check_yet_is_not_a_mismatch():
    assert decide(make_spec(), B_WINS, None, {}, 0).outcome == B_BETTER


def test_guardrails_are_ignored_below_the_minimum_requests_of_b():
    spec = make_spec(guardrails=P99, guardrail_min_requests=100)
    assert decide(spec, B_WINS, NO_SRM_P, SLOW_B, b_requests=99).outcome == B_BETTER
    assert decide(spec, B_WINS, NO_SRM_P, SLOW_B, b_requests=100).outcome == GUARDRAIL_BREACH
    assert guardrail_breaches(spec, SLOW_B, 99) == []
    # A metric not measured yet (None) is not a breach.
    assert guardrail_breaches(spec, {"latency_p99_ms": None}, 10_000) == []


def test_every_breached_guardrail_is_listed():
    spec = make_spec(
        guardrails=(*P99, Guardrail.parse("error_rate<0.01"), Guardrail.parse("latency_p50_ms<=100")),
        guardrail_min_requests=1,
    )
    breaches = guardrail_breaches(spec, {**SLOW_B, "error_rate": 0.01}, 5)
    assert [b.split(" ")[0] for b in breaches] == ["latency_p99_ms", "error_rate"]


def test_min_units_gate_holds_back_a_decisive_result():
    fewest = min(B_WINS.a.n, B_WINS.b.n)
    assert decide(make_spec(min_units=fewest + 1), B_WINS, NO_SRM_P, {}, 0).outcome == CONTINUE
    assert decide(make_spec(min_units=fewest), B_WINS, NO_SRM_P, {}, 0).outcome == B_BETTER


def test_an_indecisive_result_continues():
    assert decide(make_spec(), NOTHING, NO_SRM_P, {}, 0).outcome == CONTINUE


def test_shadow_never_declares_a_winner_but_still_breaches():
    spec = make_spec(shadow=True, guardrails=P99, guardrail_min_requests=1)
    for result in (B_WINS, A_WINS):
        assert decide(spec, result, NO_SRM_P, FAST_B, 1000).outcome == CONTINUE
    assert decide(spec, B_WINS, NO_SRM_P, SLOW_B, 1000).outcome == GUARDRAIL_BREACH


def test_lower_is_better_flips_the_winner():
    assert decide(make_spec(), A_WINS, NO_SRM_P, {}, 0).outcome == A_BETTER
    lower = make_spec(higher_is_better=False)
    assert decide(lower, B_WINS, NO_SRM_P, {}, 0).outcome == A_BETTER
    assert decide(lower, A_WINS, NO_SRM_P, {}, 0).outcome == B_BETTER


@pytest.mark.parametrize(
    ("outcome", "auto_promote", "auto_rollback", "expected"),
    [
        (GUARDRAIL_BREACH, False, True, ROLLBACK),
        (GUARDRAIL_BREACH, True, False, None),
        (GUARDRAIL_BREACH, False, False, None),
        (B_BETTER, True, False, PROMOTE),
        (B_BETTER, False, True, None),
        (B_BETTER, False, False, None),
        (A_BETTER, True, True, None),
        (CONTINUE, True, True, None),
        (SAMPLE_RATIO_MISMATCH, True, True, None),
    ],
)
def test_automatic_action_only_with_its_flag(outcome, auto_promote, auto_rollback, expected):
    spec = make_spec(auto_promote=auto_promote, auto_rollback=auto_rollback)
    breaches = ("latency_p99_ms of B is 80",) if outcome == GUARDRAIL_BREACH else ()
    assert automatic_action(spec, Decision(outcome, "detail", breaches)) == expected


# --- traffic -------------------------------------------------------------------------------

latencies = st.lists(st.floats(0, 8000, allow_nan=False), min_size=1, max_size=300)


def traffic_of(values: list[float], errors: int = 0) -> ArmTraffic:
    traffic = ArmTraffic()
    for i, value in enumerate(values):
        traffic.observe(value, error=i < errors)
    return traffic


@settings(max_examples=300, deadline=None)
@given(values=latencies, q=st.floats(0.001, 1.0) | st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]))
def test_latency_quantile_is_the_upper_bound_of_the_true_quantiles_bucket(values, q):
    reported = traffic_of(values).latency_quantile_ms(q)
    ordered = sorted(values)
    true_quantile = ordered[max(1, math.ceil(q * len(ordered))) - 1]  # empirical (inverse-CDF) quantile
    assert reported >= true_quantile  # never under-reports
    bounds = [*LATENCY_BOUNDS_MS, math.inf]
    smallest_bound_above = next(bound for bound in bounds if true_quantile <= bound)
    assert reported == smallest_bound_above  # and is the tightest bound that says so


def test_latency_quantile_edges():
    assert ArmTraffic().latency_quantile_ms(0.99) is None
    assert traffic_of([3.0] * 10).latency_quantile_ms(0.5) == 3.0  # a bound belongs to its own bucket
    assert traffic_of([3.0001] * 10).latency_quantile_ms(0.5) == 5.0
    assert traffic_of([6000.0]).latency_quantile_ms(0.5) == 10000.0
    # A minute or more is reported as the ceiling: a finite number, above every allowed guardrail.
    assert traffic_of([61_000.0, 3_600_000.0]).latency_quantile_ms(0.99) == LATENCY_CEILING_MS
    assert json.loads(json.dumps(traffic_of([1e9]).guardrail_values()))["latency_p99_ms"] == LATENCY_CEILING_MS
    # 99 fast requests and one slow: p99 is still fast, p100 is not.
    mixed = traffic_of([1.0] * 99 + [400.0])
    assert mixed.latency_quantile_ms(0.99) == 1.0 and mixed.latency_quantile_ms(1.0) == 500.0


def test_error_rate_and_guardrail_values():
    traffic = traffic_of([1.0] * 8 + [100.0] * 2, errors=3)
    assert (traffic.requests, traffic.errors) == (10, 3)
    assert traffic.guardrail_values() == {"latency_p50_ms": 1.0, "latency_p99_ms": 100.0, "error_rate": 0.3}
    assert ArmTraffic().guardrail_values() == {"latency_p50_ms": None, "latency_p99_ms": None, "error_rate": None}


arm_traffic = st.builds(
    ArmTraffic,
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.lists(st.integers(0, 10**6), min_size=len(LATENCY_BOUNDS_MS) + 1, max_size=len(LATENCY_BOUNDS_MS) + 1),
)


@settings(max_examples=100, deadline=None)
@given(x=arm_traffic, y=arm_traffic, z=arm_traffic)
def test_add_is_associative_and_commutative_and_sums_every_counter(x, y, z):
    assert x.add(y) == y.add(x)
    assert x.add(y).add(z) == x.add(y.add(z))
    total = x.add(y)
    for name in ("requests", "errors", "anonymous", "shadow_rows", "shadow_agreed"):
        assert getattr(total, name) == getattr(x, name) + getattr(y, name)
    assert sum(total.latency_counts) == sum(x.latency_counts) + sum(y.latency_counts)
    assert x.add(ArmTraffic()) == x
    # add builds a new object: the operands are unchanged.
    before = x.as_dict()
    x.add(y)
    assert x.as_dict() == before


@settings(max_examples=100, deadline=None)
@given(x=arm_traffic)
def test_traffic_round_trips_through_as_dict_and_json(x):
    assert ArmTraffic.from_dict(json.loads(json.dumps(x.as_dict()))) == x


def test_traffic_from_an_older_or_partial_dict_pads_the_buckets():
    assert ArmTraffic.from_dict({}) == ArmTraffic()
    partial = ArmTraffic.from_dict({"requests": 3, "latency_counts": [1, 2]})
    assert partial.requests == 3
    assert partial.latency_counts == [1, 2] + [0] * (len(LATENCY_BOUNDS_MS) - 1)


# --- outcomes ------------------------------------------------------------------------------


def test_parse_a_single_outcome_and_a_batch():
    assert parse_outcomes({"unit_id": "u1", "event_id": "e1", "value": 1}, "binary") == [OutcomeEvent("u1", "e1", 1.0)]
    batch = {"outcomes": [{"unit_id": f"u{i}", "event_id": f"e{i}", "value": i * 0.5} for i in range(3)]}
    events = parse_outcomes(batch, "continuous")
    assert events == [OutcomeEvent(f"u{i}", f"e{i}", i * 0.5) for i in range(3)]
    assert all(type(event.value) is float for event in events)


def test_a_batch_of_the_maximum_size_is_accepted():
    batch = {"outcomes": [{"unit_id": "u", "event_id": f"e{i}", "value": 0} for i in range(MAX_EVENTS)]}
    assert len(parse_outcomes(batch, "binary")) == MAX_EVENTS


def good(**changes):
    item = {"unit_id": "u1", "event_id": "e1", "value": 1}
    item.update(changes)
    return item


@pytest.mark.parametrize(
    ("body", "kind", "hint"),
    [
        (good(value=True), "binary", "finite number"),
        (good(value=False), "continuous", "finite number"),
        (good(value=math.nan), "continuous", "finite number"),
        (good(value=math.inf), "continuous", "finite number"),
        (good(value=-math.inf), "continuous", "finite number"),
        (good(value="1"), "continuous", "finite number"),
        (good(value=None), "continuous", "finite number"),
        (good(value=10**400), "continuous", "between -1e+12 and 1e+12"),  # math.isfinite would overflow
        (good(value=-(10**400)), "continuous", "finite number"),
        (good(value=1.000001e12), "continuous", "finite number"),
        (good(unit_id="u\ud800"), "binary", "valid Unicode"),  # what JSON "\ud800" decodes to
        (good(event_id="\udfff"), "binary", "valid Unicode"),
        (good(value=0.5), "binary", "binary"),
        (good(value=2), "binary", "binary"),
        (good(value=-1), "binary", "binary"),
        ({"unit_id": "u1", "value": 1}, "binary", "exactly"),
        ({"unit_id": "u1", "event_id": "e1", "value": 1, "extra": 2}, "binary", "exactly"),
        ([good()], "binary", "exactly"),
        ("u1,e1,1", "binary", "exactly"),
        (good(unit_id=""), "binary", "unit_id"),
        (good(unit_id=12), "binary", "unit_id"),
        (good(unit_id="u" * (MAX_UNIT_ID + 1)), "binary", "unit_id"),
        (good(event_id=""), "binary", "event_id"),
        (good(event_id=7), "binary", "event_id"),
        (good(event_id="e" * (MAX_EVENT_ID + 1)), "binary", "event_id"),
        ({"outcomes": []}, "binary", "at least one"),
        ({"outcomes": good()}, "binary", "at least one"),
        ({"outcomes": [good()], "more": 1}, "binary", "at least one"),
        ({"outcomes": [good(event_id=f"e{i}") for i in range(MAX_EVENTS + 1)]}, "binary", str(MAX_EVENTS)),
        ({"outcomes": [good(), good(value=math.nan)]}, "continuous", "outcome 1"),
    ],
)
def test_parse_outcomes_rejects(body, kind, hint):
    with pytest.raises(ExperimentError) as caught:
        parse_outcomes(body, kind)
    assert caught.value.code == "E_AB_OUTCOME"
    assert hint in caught.value.message


def test_limits_are_inclusive():
    item = good(unit_id="u" * MAX_UNIT_ID, event_id="e" * MAX_EVENT_ID, value=0)
    assert parse_outcomes(item, "binary")[0].unit_id == "u" * MAX_UNIT_ID
    assert parse_outcomes(good(value=-MAX_ABS_VALUE), "continuous")[0].value == -MAX_ABS_VALUE
    assert parse_outcomes(good(value=10**12), "continuous")[0].value == 1e12
    assert check_unit_id("x") == "x"
    for bad in ("", None, 3, "u" * (MAX_UNIT_ID + 1)):
        with pytest.raises(ExperimentError):
            check_unit_id(bad)


@settings(max_examples=150, deadline=None)
@given(
    # The snowman appears in no message template, so a message holding the id would be seen.
    unit_id=st.emails() | st.text(min_size=1, max_size=250).map(lambda s: f"\N{SNOWMAN}{s}\N{SNOWMAN}"),
    problem=st.sampled_from(["nan", "bool", "binary", "extra", "event_id", "long_unit"]),
    position=st.integers(0, 4),
)
def test_error_messages_never_contain_the_unit_id(unit_id, problem, position):
    bad = {
        "nan": good(unit_id=unit_id, value=math.nan),
        "bool": good(unit_id=unit_id, value=True),
        "binary": good(unit_id=unit_id, value=0.25),
        "extra": {**good(unit_id=unit_id), "user": unit_id},
        "event_id": good(unit_id=unit_id, event_id=""),
        "long_unit": good(unit_id=unit_id * (MAX_UNIT_ID // len(unit_id) + 1)),
    }[problem]
    items = [good(unit_id=unit_id, event_id=f"ok{i}", value=0) for i in range(5)]
    items[position] = bad
    with pytest.raises(ExperimentError) as caught:
        parse_outcomes({"outcomes": items}, "binary")
    assert unit_id not in caught.value.message and unit_id not in str(caught.value)
    assert f"outcome {position}" in caught.value.message
