"""The canonical row and data commitment (lib/commitments, DESIGN.md section 3), tested as one contract.

Golden values are rebuilt here from hashlib, rfc8785 and a reference Merkle Tree Hash
written straight from RFC 6962's recursive definition, never from the code under test.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from hokusai_assets.lib.commitments import merkle as merkle_module
from hokusai_assets.lib.commitments import numbers as numbers_module
from hokusai_assets.lib.commitments import rows as rows_module
from hokusai_assets.lib.commitments.canonical import canonical_json, canonical_row_bytes, to_canonical_value
from hokusai_assets.lib.commitments.digests import SHA256_PREFIX, bytes_digest, file_digest, parse_digest
from hokusai_assets.lib.commitments.merkle import (
    data_root,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    sorted_leaves,
    verify_inclusion,
)
from hokusai_assets.lib.commitments.rows import iter_canonical_rows
from hokusai_assets.lib.errors import CommitmentError

# ----------------------------------------------------------------- reference model


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ref_mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 MTH over already-hashed leaves, recursive as written."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(hashes[:k]) + ref_mth(hashes[k:])).digest()


def ref_path(m: int, hashes: list[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1 PATH(m, D[n]), recursive as written."""
    n = len(hashes)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, hashes[:k]) + [ref_mth(hashes[k:])]
    return ref_path(m - k, hashes[k:]) + [ref_mth(hashes[:k])]


def leaves_of(n: int) -> list[bytes]:
    return [ref_leaf(f"row-{i}".encode()) for i in range(n)]


# ----------------------------------------------------------------- Merkle tree


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9])
def test_merkle_root_matches_reference(n: int) -> None:
    assert merkle_root(leaves_of(n)) == ref_mth(leaves_of(n))


def test_merkle_root_golden_small_trees() -> None:
    a, b, c = leaves_of(3)
    h = lambda x: hashlib.sha256(x).digest()  # noqa: E731
    assert merkle_root([]) == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == h(b"\x01" + a + b)
    # n=3 splits at k=2: the third leaf is promoted, not paired with itself.
    assert merkle_root([a, b, c]) == h(b"\x01" + h(b"\x01" + a + b) + c)


def test_leaf_and_node_hash_domain_separation() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()


def test_merkle_root_large_tree_is_iterative() -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(5000)]
    assert merkle_root(leaves) == ref_mth(leaves)


# ----------------------------------------------------------------- inclusion proofs


@pytest.mark.parametrize("n", range(1, 18))
def test_every_inclusion_proof_verifies(n: int) -> None:
    leaves = leaves_of(n)
    root = merkle_root(leaves)
    for i in range(n):
        proof = inclusion_proof(leaves, i)
        assert proof == ref_path(i, leaves)
        assert verify_inclusion(leaves[i], i, n, proof, root)


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13, 17])
def test_tampered_inclusion_proofs_fail(n: int) -> None:
    leaves = leaves_of(n)
    root = merkle_root(leaves)
    wrong_leaf = ref_leaf(b"not in the tree")
    for i in range(n):
        proof = inclusion_proof(leaves, i)
        assert not verify_inclusion(wrong_leaf, i, n, proof, root)
        assert not verify_inclusion(leaves[i], (i + 1) % n, n, proof, root)
        for j in range(len(proof)):
            bad = list(proof)
            bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
            assert not verify_inclusion(leaves[i], i, n, bad, root)
        assert not verify_inclusion(leaves[i], i, n, proof[:-1], root)
        assert not verify_inclusion(leaves[i], i, n, proof + [wrong_leaf], root)
        assert not verify_inclusion(leaves[i], i, n, proof, wrong_leaf)
        # A wrong tree_size is not always caught by the proof alone (e.g. leaf 0 of 3 and
        # of 4 share a path shape): the size must come from the signed tree head.


def test_inclusion_proof_bad_input() -> None:
    leaves = leaves_of(3)
    for index in (-1, 3):
        with pytest.raises(CommitmentError) as err:
            inclusion_proof(leaves, index)
        assert err.value.code == "E_COMMIT_BAD_INDEX"
    root = merkle_root(leaves)
    assert not verify_inclusion(leaves[0], 3, 3, [], root)
    assert not verify_inclusion(leaves[0], -1, 3, [], root)
    assert not verify_inclusion(leaves[0], 0, 0, [], root)
    assert verify_inclusion(leaves[0], 0, 1, [], leaves[0])


rows_strategy = st.lists(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**60), max_value=2**60),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=8),
        ),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows_strategy)
def test_property_every_proof_verifies(rows: list[dict]) -> None:
    leaves = sorted(leaf_hash(canonical_row_bytes(r)) for r in rows)
    root = merkle_root(leaves)
    assert root == ref_mth(leaves)
    for i, leaf in enumerate(leaves):
        assert verify_inclusion(leaf, i, len(leaves), inclusion_proof(leaves, i), root)


# ----------------------------------------------------------------- canonical values


def test_canonical_json_is_rfc8785() -> None:
    obj = {"b": [1, 2.5, None], "a": {"z": True, "é": "x"}}
    assert canonical_json(obj) == rfc8785.dumps(obj)
    assert canonical_json(obj) == '{"a":{"z":true,"é":"x"},"b":[1,2.5,null]}'.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (pd.NA, None),
        (pd.NaT, None),
        (True, True),
        (np.bool_(False), False),
        (7, 7),
        (np.int64(-7), -7),
        (np.uint64(2**63), str(2**63)),
        (2**53 - 1, 2**53 - 1),
        (-(2**53 - 1), -(2**53 - 1)),
        (2**53 + 1, "9007199254740993"),
        (-(2**53), "-9007199254740992"),
        (0.5, 0.5),
        (np.float64(0.1), 0.1),
        (np.float32(0.1), float(np.float32(0.1))),
        ("text", "text"),
        (np.str_("np"), "np"),
    ],
)
def test_to_canonical_value(value, expected) -> None:
    got = to_canonical_value(value)
    assert got == expected and type(got) is type(expected)


def test_float32_is_widened_exactly_not_reparsed() -> None:
    # 0.1f widened is 0.100000001490116..., not 0.1: the commitment keeps the stored value.
    assert to_canonical_value(np.float32(0.1)) != 0.1
    assert canonical_row_bytes({"x": np.float32(0.1)}) == b'{"x":0.10000000149011612}'


@pytest.mark.parametrize("value", [float("nan"), np.float64("nan"), float("inf"), -np.inf])
def test_nonfinite_bare_value_raises(value) -> None:
    with pytest.raises(CommitmentError) as err:
        to_canonical_value(value)
    assert err.value.code == "E_COMMIT_NONFINITE"
    assert "NaN policy" in err.value.message


@pytest.mark.parametrize("value", [b"bytes", [1], {"a": 1}, pd.Timestamp("2024-01-01"), 1j])
def test_unsupported_value_raises(value) -> None:
    with pytest.raises(CommitmentError) as err:
        to_canonical_value(value)
    assert err.value.code == "E_COMMIT_UNSUPPORTED_TYPE"


def test_canonical_row_bytes_names_the_column() -> None:
    with pytest.raises(CommitmentError) as err:
        canonical_row_bytes({"ok": 1, "bad": float("nan")})
    assert err.value.code == "E_COMMIT_NONFINITE" and "'bad'" in err.value.message


def test_big_int_encodes_as_string() -> None:
    assert canonical_row_bytes({"n": 2**53 + 1}) == b'{"n":"9007199254740993"}'
    frame = pd.DataFrame({"n": np.array([2**53 + 1, 5], dtype=np.int64)})
    assert list(iter_canonical_rows(frame, ["n"])) == [b'{"n":"9007199254740993"}', b'{"n":5}']


def test_int_and_integral_float_give_the_same_bytes() -> None:
    # RFC 8785 writes numbers as ECMAScript does: 3.0 is "3". So a column that turns from
    # int to float (e.g. a CSV reader meeting a missing value) keeps its commitment.
    assert canonical_row_bytes({"x": 3}) == canonical_row_bytes({"x": 3.0}) == b'{"x":3}'
    ints = pd.DataFrame({"x": [1, 2, 3]})
    floats = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    assert data_root(ints, ["x"]) == data_root(floats, ["x"])


def test_close_floats_do_not_collide() -> None:
    # The old pipeline rounded to 10 digits, which made these two rows the same.
    assert canonical_row_bytes({"x": 0.1}) != canonical_row_bytes({"x": 0.1000000000000001})
    a = pd.DataFrame({"x": [0.1, 2.0]})
    b = pd.DataFrame({"x": [0.1000000000000001, 2.0]})
    assert data_root(a, ["x"]) != data_root(b, ["x"])


# ----------------------------------------------------------------- frames


def sample_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": [1, 0, 1],
            "age": [34.5, None, 51.25],
            "city": ["Kyōto", None, 'Ed"o'],
            "member": [True, False, True],
        }
    )


def test_data_root_golden_three_rows() -> None:
    columns = ["label", "age", "city", "member"]
    hand_rows = [
        {"label": 1, "age": 34.5, "city": "Kyōto", "member": True},
        {"label": 0, "age": None, "city": None, "member": False},
        {"label": 1, "age": 51.25, "city": 'Ed"o', "member": True},
    ]
    hand_bytes = [rfc8785.dumps(r) for r in hand_rows]
    assert hand_bytes[1] == b'{"age":null,"city":null,"label":0,"member":false}'
    leaves = sorted(hashlib.sha256(b"\x00" + b).digest() for b in hand_bytes)
    expected = "sha256:" + ref_mth(leaves).hex()

    frame = sample_frame()
    assert list(iter_canonical_rows(frame, columns)) == hand_bytes
    assert sorted_leaves(frame, columns) == leaves
    assert data_root(frame, columns) == expected


def test_row_order_does_not_change_root() -> None:
    frame = sample_frame()
    columns = list(frame.columns)
    root = data_root(frame, columns)
    for seed in range(5):
        shuffled = frame.sample(frac=1, random_state=seed)
        assert data_root(shuffled, columns) == root
    # column order of the frame and of the request does not matter either
    assert data_root(frame[columns[::-1]], columns[::-1]) == root


def test_duplicate_rows_each_count() -> None:
    one = pd.DataFrame({"x": [1, 2]})
    two = pd.DataFrame({"x": [1, 2, 2]})
    assert len(sorted_leaves(two, ["x"])) == 3
    assert data_root(one, ["x"]) != data_root(two, ["x"])


def test_changed_value_changes_root() -> None:
    frame = sample_frame()
    columns = list(frame.columns)
    root = data_root(frame, columns)
    for column, value in [("label", 0), ("age", 34.50000001), ("city", "Kyoto"), ("member", False)]:
        changed = frame.copy()
        changed.loc[0, column] = value
        assert data_root(changed, columns) != root, column
    nulled = frame.copy()
    nulled.loc[0, "city"] = None
    assert data_root(nulled, columns) != root


def test_csv_round_trip_keeps_root() -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "f": rng.normal(size=500),
            "g": np.where(rng.random(500) < 0.1, np.nan, rng.random(500) * 1e6),
            "i": rng.integers(-1000, 1000, 500),
            "s": rng.choice(["a", "b", "c, d", 'q"uote'], 500),
            "b": rng.random(500) < 0.5,
        }
    )
    columns = list(frame.columns)
    text = frame.to_csv(index=False)
    # pandas' default C float parser is not exact for ~1/3 of doubles; readers must use
    # round_trip (or the pyarrow engine) to get the values that were written.
    back = pd.read_csv(io.StringIO(text), float_precision="round_trip")
    assert list(back.dtypes) == list(frame.dtypes)
    assert data_root(back, columns) == data_root(frame, columns)
    # JSON Lines gives the same rows, so the same root. pandas' own JSON writer keeps at
    # most 15 digits and its reader is inexact without precise_float, so write with the
    # standard library (shortest round-trip repr) and read with precise_float=True.
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    lines = "\n".join(json.dumps(r) for r in records)
    as_json = pd.read_json(io.StringIO(lines), lines=True, precise_float=True)
    assert list(as_json.dtypes) == list(frame.dtypes)
    assert data_root(as_json, columns) == data_root(frame, columns)


def test_missing_cells_are_null_in_every_dtype() -> None:
    frame = pd.DataFrame(
        {
            "f": pd.Series([np.nan, 1.5], dtype="float64"),
            "F": pd.Series([pd.NA, 1.5], dtype="Float64"),
            "I": pd.Series([pd.NA, 2], dtype="Int64"),
            "B": pd.Series([pd.NA, True], dtype="boolean"),
            "S": pd.Series([pd.NA, "x"], dtype="string"),
            "o": pd.Series([None, "y"], dtype=object),
            "c": pd.Series([None, "z"], dtype="category"),
        }
    )
    columns = list(frame.columns)
    rows = list(iter_canonical_rows(frame, columns))
    assert json.loads(rows[0]) == {c: None for c in columns}
    assert rows[1] == b'{"B":true,"F":1.5,"I":2,"S":"x","c":"z","f":1.5,"o":"y"}'


def test_frame_rows_match_canonical_row_bytes_across_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "f32": np.array([0.1, -2.5, 3.0], dtype=np.float32),
            "u8": np.array([0, 200, 255], dtype=np.uint8),
            "i64": np.array([-(2**62), 0, 2**53 - 1], dtype=np.int64),
            "obj": pd.Series([1, "two", 3.5], dtype=object),
            "neg0": [-0.0, 0.0, 1e21],
        }
    )
    columns = list(frame.columns)
    rows = list(iter_canonical_rows(frame, columns))
    for i, row in enumerate(rows):
        expected = canonical_row_bytes({c: frame[c].iloc[i] for c in columns})
        assert row == expected


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
            st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
            st.one_of(st.none(), st.text(max_size=6)),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_property_frame_path_equals_row_path(rows) -> None:
    frame = pd.DataFrame(
        {
            "i": pd.Series([r[0] for r in rows], dtype="Int64"),
            "f": pd.Series([np.nan if r[1] is None else r[1] for r in rows], dtype="float64"),
            "s": pd.Series([r[2] for r in rows], dtype=object),
        }
    )
    expected = [canonical_row_bytes({"i": i, "f": f, "s": s}) for i, f, s in rows]
    assert list(iter_canonical_rows(frame, ["i", "f", "s"])) == expected


def test_inf_in_frame_raises_naming_the_column() -> None:
    frame = pd.DataFrame({"ok": [1.0, 2.0], "score": [1.0, np.inf]})
    with pytest.raises(CommitmentError) as err:
        data_root(frame, ["ok", "score"])
    assert err.value.code == "E_COMMIT_NONFINITE"
    assert "'score'" in err.value.message and "NaN policy" in err.value.message
    obj = pd.DataFrame({"o": pd.Series(["a", -np.inf], dtype=object)})
    with pytest.raises(CommitmentError) as err:
        data_root(obj, ["o"])
    assert err.value.code == "E_COMMIT_NONFINITE" and "'o'" in err.value.message


def test_frame_errors() -> None:
    frame = pd.DataFrame({"a": [1], "when": pd.to_datetime(["2024-01-01"])})
    with pytest.raises(CommitmentError) as err:
        data_root(frame, ["a", "missing"])
    assert err.value.code == "E_COMMIT_MISSING_COLUMN" and "'missing'" in err.value.message
    with pytest.raises(CommitmentError) as err:
        data_root(frame, ["when"])
    assert err.value.code == "E_COMMIT_UNSUPPORTED_TYPE" and "'when'" in err.value.message
    with pytest.raises(CommitmentError) as err:
        data_root(frame, ["a", "a"])
    assert err.value.code == "E_COMMIT_DUPLICATE_COLUMN"
    with pytest.raises(CommitmentError) as err:
        data_root(frame, [])
    assert err.value.code == "E_COMMIT_NO_COLUMNS"


def test_empty_frame_root_is_hash_of_empty_string() -> None:
    frame = pd.DataFrame({"x": pd.Series([], dtype="float64")})
    assert data_root(frame, ["x"]) == "sha256:" + hashlib.sha256(b"").hexdigest()


# ----------------------------------------------------------------- digests


def test_file_and_bytes_digest(tmp_path) -> None:
    data = bytes(range(256)) * 9000  # > 2 MiB, so several chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = "sha256:" + hashlib.sha256(data).hexdigest()
    assert file_digest(path) == expected
    assert file_digest(str(path)) == expected
    assert bytes_digest(data) == expected
    assert parse_digest(expected) == hashlib.sha256(data).digest()
    assert SHA256_PREFIX == "sha256:"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "sha256:",
        "sha256:" + "0" * 63,
        "sha256:" + "0" * 65,
        "sha256:" + "g" * 64,
        "sha256:" + "A" * 64,
        "md5:" + "0" * 64,
        "0" * 64,
        " sha256:" + "0" * 64,
        None,
    ],
)
def test_parse_digest_errors(bad) -> None:
    with pytest.raises(CommitmentError) as err:
        parse_digest(bad)
    assert err.value.code == "E_COMMIT_BAD_DIGEST"


# ----------------------------------------------------------------- vectorised frame encoder
#
# iter_canonical_rows, sorted_leaves and data_root encode frames column-wise (numpy and
# Arrow). The reference below is the definition: per row, rfc8785.dumps of
# {column: to_canonical_value(cell)}, a missing cell (pd.isna) being None.


def ref_value(value):
    return None if pd.isna(value) else to_canonical_value(value)


def ref_rows(frame: pd.DataFrame, columns: list[str]) -> list[bytes]:
    return [
        rfc8785.dumps({c: ref_value(frame[c].iloc[i]) for c in columns})
        for i in range(len(frame))
    ]


def assert_frame_matches_reference(frame: pd.DataFrame, columns: list[str]) -> None:
    expected = ref_rows(frame, columns)
    assert list(iter_canonical_rows(frame, columns)) == expected
    leaves = sorted(ref_leaf(r) for r in expected)
    assert sorted_leaves(frame, columns) == leaves
    assert data_root(frame, columns) == "sha256:" + ref_mth(leaves).hex()


FLOAT_EDGES = [
    1e21, 1e-7, 1e-6, 123456789012345680000.0, 5e-324, 1.7976931348623157e308, 0.1, 100.0,
    -0.0, 0.0, 1.0, -1.0, 0.5, 1e-5, 1e-4, 1e9, 9999999999.999998, 1e10, 1e15, 1e16, 1e20,
    9.999999999999999e20, 1.0000000000000001e21, 12345678901.5, 123456789012345.67,
    2.0**53 - 1, 2.0**53, 2.0**53 + 2, 2.0**63, 2.0**64, 2.2250738585072014e-308,
    2.225073858507201e-308, 4.9406564584124654e-322, 1 / 3, 0.30000000000000004,
    float(np.nextafter(1e21, 0)), float(np.nextafter(1e-6, 0)), float(np.nextafter(1e10, 0)),
]
FLOAT_EDGES += [-x for x in FLOAT_EDGES]
INT_EDGES = [
    0, 1, -1, 2**53 - 1, 2**53, 2**53 + 1, -(2**53 - 1), -(2**53), -(2**53 + 1),
    2**63 - 1, -(2**63), 2**31, -(2**31) - 1,
]
KEYS = ["a", "b", "B", "é", "été", "\uffff", "\U0001f600", "aa", "", 'q"uote', "new\nline", "z"]

finite_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(FLOAT_EDGES),
    st.integers(-(2**60), 2**60).map(float),
    # controlled digit counts and exponents, across every Number::toString branch
    st.builds(
        lambda m, e: float(f"{m}e{e}"), st.integers(-(10**17), 10**17), st.integers(-30, 30)
    ),
    st.floats(min_value=-2.2250738585072014e-308, max_value=2.2250738585072014e-308),
)
int64s = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from(INT_EDGES))
texts = st.text(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(list('"\\\n\r\t\b\f\x00\x01\x1f\x7f\u2028é😀\U0010ffff')),
    ),
    max_size=10,
)


def _nullable(strategy):
    return st.one_of(st.none(), strategy)


def _float_series(values):
    return pd.Series([np.nan if v is None else v for v in values], dtype="float64")


# kind -> (cell strategy, list of cells -> Series)
COLUMN_KINDS = {
    "float64": (_nullable(finite_floats), _float_series),
    "float64_integral": (
        _nullable(st.integers(-(2**53), 2**53).map(float)),
        _float_series,
    ),
    "float32": (
        _nullable(st.floats(width=32, allow_nan=False, allow_infinity=False)),
        lambda v: pd.Series([np.nan if x is None else x for x in v], dtype="float32"),
    ),
    "Float64": (_nullable(finite_floats), lambda v: pd.Series(v, dtype="Float64")),
    "int64": (int64s, lambda v: pd.Series(np.array(v, dtype=np.int64))),
    "int8": (st.integers(-128, 127), lambda v: pd.Series(np.array(v, dtype=np.int8))),
    "uint64": (
        st.integers(0, 2**64 - 1),
        lambda v: pd.Series(np.array(v, dtype=np.uint64)),
    ),
    "Int64": (_nullable(int64s), lambda v: pd.Series(v, dtype="Int64")),
    "arrow_int64": (_nullable(int64s), lambda v: pd.Series(v, dtype=pd.ArrowDtype(pa.int64()))),
    "bool": (st.booleans(), lambda v: pd.Series(np.array(v, dtype=bool))),
    "boolean": (_nullable(st.booleans()), lambda v: pd.Series(v, dtype="boolean")),
    "object_str": (
        st.one_of(texts, st.none(), st.just(float("nan"))),
        lambda v: pd.Series(v, dtype=object),
    ),
    "string_python": (_nullable(texts), lambda v: pd.Series(v, dtype="string[python]")),
    "string_pyarrow": (_nullable(texts), lambda v: pd.Series(v, dtype="string[pyarrow]")),
    "arrow_string": (_nullable(texts), lambda v: pd.Series(v, dtype=pd.ArrowDtype(pa.string()))),
    "category": (_nullable(texts), lambda v: pd.Series(v, dtype="category")),
    "category_int": (_nullable(int64s), lambda v: pd.Series(v, dtype="category")),
    "object_mixed": (
        st.one_of(
            st.none(),
            st.booleans(),
            int64s,
            finite_floats,
            texts,
            st.just(pd.NA),
            st.just(float("nan")),
        ),
        lambda v: pd.Series(v, dtype=object),
    ),
}


@st.composite
def mixed_frames(draw):
    n = draw(st.integers(0, 25))
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=6, unique=True))
    data = {}
    for key in keys:
        cell, build = COLUMN_KINDS[draw(st.sampled_from(sorted(COLUMN_KINDS)))]
        data[key] = build(draw(st.lists(cell, min_size=n, max_size=n)))
    return pd.DataFrame(data), keys


@settings(max_examples=300, deadline=None)
@given(mixed_frames())
def test_property_vectorised_rows_equal_rfc8785(frame_and_keys) -> None:
    frame, keys = frame_and_keys
    assert_frame_matches_reference(frame, keys)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), finite_floats), min_size=1, max_size=60))
def test_property_float_column_equals_rfc8785(values) -> None:
    frame = pd.DataFrame({"x": _float_series(values)})
    assert_frame_matches_reference(frame, ["x"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), texts), min_size=1, max_size=40))
def test_property_string_column_equals_rfc8785(values) -> None:
    for dtype in (object, "string[python]", "string[pyarrow]", "category"):
        frame = pd.DataFrame({"s": pd.Series(values, dtype=dtype)})
        assert_frame_matches_reference(frame, ["s"])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (123456789012345680000.0, "123456789012345680000"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1, "0.1"),
        (100.0, "100"),
        (-0.0, "0"),
        (0.0, "0"),
        (-1.5e-7, "-1.5e-7"),
        (0.000015, "0.000015"),
        (1e10, "10000000000"),
        (-12345678901.5, "-12345678901.5"),
        (123456789012345.67, "123456789012345.67"),
        (2.0**53, "9007199254740992"),
        (1e20, "100000000000000000000"),
        (9.999999999999999e20, "999999999999999900000"),
        (1.5e300, "1.5e+300"),
        (2.0**-1074, "5e-324"),
    ],
)
def test_float_formatting_edge_cases(value: float, text: str) -> None:
    assert rfc8785.dumps(value) == text.encode()
    expected = b'{"x":' + text.encode() + b"}"
    alone = pd.DataFrame({"x": [value]})  # integral columns take the integer path
    mixed = pd.DataFrame({"x": [value, 0.5, np.nan]})  # the general float path
    assert list(iter_canonical_rows(alone, ["x"])) == [expected]
    assert list(iter_canonical_rows(mixed, ["x"]))[0] == expected
    assert canonical_row_bytes({"x": value}) == expected


def test_float_formatting_matches_rfc8785_on_many_doubles() -> None:
    rng = np.random.default_rng(8785)
    n = 4000
    values = np.concatenate(
        [
            rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64),  # any bit pattern
            rng.integers(0, 2**52, n, dtype=np.uint64).view(np.float64),  # subnormals
            rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-8, 22, n),  # every branch
            rng.integers(1, 10**17, n) * 10.0 ** rng.integers(-12, 12, n),  # short decimals
            np.round(rng.normal(size=n) * 1e12, 2),
            rng.integers(-(2**62), 2**62, n).astype(np.float64),
        ]
    )
    values = values[np.isfinite(values)]
    frame = pd.DataFrame({"x": values})
    got = list(iter_canonical_rows(frame, ["x"]))
    assert got == [b'{"x":' + rfc8785.dumps(v) + b"}" for v in values.tolist()]


def test_arrow_float_formatting_guard_holds() -> None:
    # If a pyarrow upgrade changes its float text, the guard routes floats to the per-cell
    # path: still correct, but slow. This test makes such an upgrade visible.
    assert numbers_module.arrow_floats_are_ecmascript()


def test_per_cell_float_fallback_matches(monkeypatch) -> None:
    frame = pd.DataFrame({"x": FLOAT_EDGES + [np.nan], "y": range(len(FLOAT_EDGES) + 1)})
    fast = list(iter_canonical_rows(frame, ["x", "y"]))
    monkeypatch.setattr(numbers_module, "arrow_floats_are_ecmascript", lambda: False)
    assert list(iter_canonical_rows(frame, ["x", "y"])) == fast == ref_rows(frame, ["x", "y"])


def test_string_escapes_for_every_control_character() -> None:
    specials = [chr(c) for c in range(0x20)] + ['"', "\\", "\x7f", "\u2028", "é", "😀", "/"]
    values = specials + ["".join(specials), "a" + "".join(reversed(specials)) + "z", "", None]
    for dtype in (object, "string[python]", "string[pyarrow]", "category"):
        frame = pd.DataFrame({"s": pd.Series(values, dtype=dtype)})
        assert_frame_matches_reference(frame, ["s"])
    rows = list(iter_canonical_rows(pd.DataFrame({"s": ["\x00\x08\x09\x0a\x0c\x0d\x1f"]}), ["s"]))
    assert rows == [b'{"s":"\\u0000\\b\\t\\n\\f\\r\\u001f"}']


def test_keys_sorted_by_utf16_code_units() -> None:
    # U+FFFF sorts after U+1F600 in UTF-16 (surrogates are 0xD83D...), before it by code point.
    frame = pd.DataFrame({"\U0001f600": [1], "\uffff": [2], "a": [3]})
    rows = list(iter_canonical_rows(frame, ["\uffff", "\U0001f600", "a"]))
    assert rows == ['{"a":3,"\U0001f600":1,"\uffff":2}'.encode()]


def test_row_batches_join_across_boundaries(monkeypatch) -> None:
    monkeypatch.setattr(rows_module, "ROW_BATCH", 7)
    rng = np.random.default_rng(3)
    n = 50
    frame = pd.DataFrame(
        {
            "f": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n) * 1e12),
            "i": pd.Series(
                np.where(rng.random(n) < 0.2, None, rng.integers(-9, 9, n)), dtype="Int64"
            ),
            "s": rng.choice(np.array(['a"b', "c\nd", "é", None], dtype=object), n),
            "b": rng.random(n) < 0.5,
        }
    )
    assert_frame_matches_reference(frame, list(frame.columns))


def test_big_endian_and_narrow_numeric_columns() -> None:
    frame = pd.DataFrame(
        {
            "be": np.array([1, -(2**62), 2**53 + 1], dtype=">i8"),
            "u8": np.array([0, 255, 7], dtype=np.uint8),
            "f16": np.array([0.1, -2.5, 65504], dtype=np.float16),
            "befl": np.array([0.1, 1e300, -0.0], dtype=">f8"),
        }
    )
    assert_frame_matches_reference(frame, list(frame.columns))


def test_object_column_errors_are_unchanged() -> None:
    surrogate = pd.DataFrame({"s": pd.Series(["ok", "bad \ud800"], dtype=object)})
    with pytest.raises(CommitmentError) as err:
        data_root(surrogate, ["s"])
    assert err.value.code == "E_COMMIT_BAD_STRING" and "'s'" in err.value.message
    stamp = pd.DataFrame({"o": pd.Series(["a", pd.Timestamp("2024-01-01")], dtype=object)})
    with pytest.raises(CommitmentError) as err:
        data_root(stamp, ["o"])
    assert err.value.code == "E_COMMIT_UNSUPPORTED_TYPE" and "'o'" in err.value.message
    cats = pd.DataFrame({"c": pd.Series([pd.Timestamp("2024-01-01"), None], dtype="category")})
    with pytest.raises(CommitmentError) as err:
        data_root(cats, ["c"])
    assert err.value.code == "E_COMMIT_UNSUPPORTED_TYPE" and "'c'" in err.value.message
    # a str subclass is written as str(value), as canonical_row_bytes does
    class Tag(str):
        def __str__(self) -> str:
            return "tag"

    tagged = pd.DataFrame({"t": pd.Series([Tag("raw"), "x"], dtype=object)})
    assert list(iter_canonical_rows(tagged, ["t"])) == [b'{"t":"tag"}', b'{"t":"x"}']
    numpy_text = pd.DataFrame({"n": pd.Series([np.str_('a"b'), None, "c"], dtype=object)})
    assert list(iter_canonical_rows(numpy_text, ["n"])) == [
        b'{"n":"a\\"b"}',
        b'{"n":null}',
        b'{"n":"c"}',
    ]


def test_unused_categories_are_not_encoded() -> None:
    series = pd.Series(["a", None, "a"], dtype=pd.CategoricalDtype(["a", "b"]))
    frame = pd.DataFrame({"c": series})
    assert list(iter_canonical_rows(frame, ["c"])) == [b'{"c":"a"}', b'{"c":null}', b'{"c":"a"}']


@pytest.mark.parametrize("n", [3, 4, 5, 17, 1000, 1025])
def test_sorted_leaves_and_root_of_many_rows(n: int) -> None:
    frame = pd.DataFrame({"x": np.arange(n) % 7, "y": np.arange(n) * 0.25})  # with duplicates
    expected = sorted(ref_leaf(r) for r in ref_rows(frame, ["x", "y"]))
    assert sorted_leaves(frame, ["x", "y"]) == expected
    assert data_root(frame, ["x", "y"]) == "sha256:" + ref_mth(expected).hex()
    assert merkle_root(expected) == ref_mth(expected)
    assert len(expected) == n


def test_leaf_order_check_and_its_fallback(monkeypatch) -> None:
    rows = np.array([[0] * 32, [0] * 31 + [1], [1] + [0] * 31, [255] * 32], dtype=np.uint8)
    assert merkle_module._is_ascending(rows)
    assert merkle_module._is_ascending(rows[[0, 0, 1]])  # equal neighbours are in order
    assert not merkle_module._is_ascending(rows[[1, 0]])
    assert not merkle_module._is_ascending(rows[[3, 2]])
    frame = pd.DataFrame({"x": np.arange(40) % 9})
    expected = sorted(ref_leaf(r) for r in ref_rows(frame, ["x"]))
    monkeypatch.setattr(merkle_module, "_is_ascending", lambda digests: False)
    assert sorted_leaves(frame, ["x"]) == expected
