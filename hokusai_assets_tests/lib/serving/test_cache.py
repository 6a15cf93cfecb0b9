import pytest
from hypothesis import given
from hypothesis import strategies as st

from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.serving.cache import TTLCache, canonical_row, prediction_key, row_digest


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_row_digest_ignores_key_order_and_sees_every_value():
    assert row_digest({"a": 1.5, "b": 2}) == row_digest({"b": 2, "a": 1.5})
    assert row_digest({"a": 1.5, "b": 2}) != row_digest({"a": 1.5, "b": 3})
    # 1 and 1.0 are one JSON number (RFC 8785): the model reads both as 1.0.
    assert row_digest({"a": 1}) == row_digest({"a": 1.0})


def test_integers_beyond_two_to_the_53_stay_exact():
    assert row_digest({"a": 2**53 + 1}) != row_digest({"a": 2**53 + 2})
    assert row_digest({"a": 2**63 - 1}) != row_digest({"a": 2**63 - 2})


def test_the_key_names_the_model_digest_not_an_alias():
    row = {"a": 1.0}
    assert prediction_key("sha256:aa", row) != prediction_key("sha256:bb", row)
    assert prediction_key("sha256:aa", row).startswith("hokusai:prediction:sha256:aa:")


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.floats(allow_nan=False, allow_infinity=False), max_size=6))
def test_the_row_digest_is_a_function_of_the_values(row):
    assert row_digest(row) == row_digest(dict(reversed(list(row.items()))))


def test_entries_expire_after_the_ttl():
    clock = Clock()
    cache = TTLCache(10, ttl_seconds=5, clock=clock)
    cache.put_many({"k": {"label": 1}})
    clock.now = 4.9
    assert cache.get_many(["k"]) == [{"label": 1}]
    clock.now = 5.0
    assert cache.get_many(["k"]) == [None]
    assert len(cache) == 0


def test_the_least_recently_used_go_first():
    cache = TTLCache(2, ttl_seconds=60, clock=Clock())
    cache.put_many({"a": 1, "b": 2})
    cache.get_many(["a"])  # a is now the most recent
    cache.put_many({"c": 3})
    assert cache.get_many(["a", "b", "c"]) == [1, None, 3]


def test_a_cache_needs_room_and_a_ttl():
    with pytest.raises(ValueError):
        TTLCache(0, 1)
    with pytest.raises(ValueError):
        TTLCache(1, 0)


FEATURE = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.booleans(),
)


@given(st.dictionaries(st.text(max_size=6), FEATURE, max_size=8))
def test_the_fast_canonical_row_is_rfc_8785(row):
    assert canonical_row(row) == canonical_json(row)


@pytest.mark.parametrize("value", [0.0, -0.0, 1.0, -1.0, 1e-7, 1e-6, 1e-5, 1e16, 1e21, 1e22, 5e-324, 1.7976931348623157e308, 0.1])
def test_the_edges_of_ecmascript_number_formatting(value):
    assert canonical_row({"x": value}) == canonical_json({"x": value})
