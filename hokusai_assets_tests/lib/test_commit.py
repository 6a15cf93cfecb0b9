"""Tests for the canonical row and data commitment (DESIGN.md section 3).

Golden values are rebuilt here from hashlib, rfc8785 and a reference Merkle Tree Hash
written straight from RFC 6962's recursive definition, never from the code under test.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from hokusai_assets.lib.commit import (
    SHA256_PREFIX,
    bytes_digest,
    canonical_json,
    canonical_row_bytes,
    data_root,
    file_digest,
    inclusion_proof,
    iter_canonical_rows,
    leaf_hash,
    merkle_root,
    node_hash,
    parse_digest,
    sorted_leaves,
    to_canonical_value,
    verify_inclusion,
)
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
