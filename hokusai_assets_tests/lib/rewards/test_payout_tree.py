"""The payout tree (lib/rewards/payout_tree.py): an OpenZeppelin StandardMerkleTree of (address, uint256).

Leaves are checked against ABI encoding written out by hand here (12 zero bytes, the 20
address bytes, the amount as 32 big-endian bytes) and proofs against a fold of OZ's
commutative pair hash; byte-for-byte agreement with the npm package itself is
e2e/test_payout_tree_npm.py.
"""

from __future__ import annotations

import copy
import json
import random

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.payout_tree import PayoutTree, payout_leaf, verify_payout_proof
from hokusai_assets.lib.rewards.payouts import allocate


def wallet(n: int) -> str:
    return to_checksum_address(f"0x{n:040x}")


def random_claims(count: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [(to_checksum_address(rng.randbytes(20)), rng.randrange(2**256)) for _ in range(count)]


def reference_leaf(address: str, amount: int) -> bytes:
    encoded = bytes(12) + bytes.fromhex(address[2:]) + amount.to_bytes(32, "big")  # abi.encode(address, uint256)
    return keccak(keccak(encoded))


def fold(leaf: bytes, proof: list[str]) -> str:
    """OZ MerkleProof.processProof: hash the running node with each sibling, smaller bytes first."""
    node = leaf
    for sibling in map(bytes.fromhex, (p[2:] for p in proof)):
        node = keccak(b"".join(sorted([node, sibling])))
    return "0x" + node.hex()


def flip(node: str, position: int = -1) -> str:
    digits = list(node)
    digits[position] = "1" if digits[position] != "1" else "2"
    return "".join(digits)


# ----------------------------------------------------------------- leaves and proofs


def test_leaf_is_double_keccak_of_the_abi_encoding():
    for address, amount in random_claims(5, seed=1) + [(wallet(1), 0), (wallet(2), 2**256 - 1)]:
        assert payout_leaf(address, amount) == reference_leaf(address, amount)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_every_proof_folds_to_the_root_and_verifies(count):
    claims = random_claims(count, seed=count)
    tree = PayoutTree.build(claims)
    assert len(tree) == count
    for address, amount in claims:
        proof = tree.proof(address)
        assert fold(reference_leaf(address, amount), proof) == tree.root
        assert verify_payout_proof(tree.root, address, amount, proof)
        assert tree.amount(address) == amount


def test_tree_layout_is_ozs_array_with_leaves_sorted_descending_from_the_end():
    claims = random_claims(6, seed=3)
    dump = PayoutTree.build(claims).dump()
    nodes = dump["tree"]
    assert len(nodes) == 2 * 6 - 1
    leaves = sorted(reference_leaf(a, x) for a, x in claims)
    assert [nodes[len(nodes) - 1 - i] for i in range(6)] == ["0x" + leaf.hex() for leaf in leaves]
    for entry, (address, amount) in zip(dump["values"], claims):
        assert entry["value"] == [address, str(amount)]
        assert nodes[entry["treeIndex"]] == "0x" + reference_leaf(address, amount).hex()


def test_root_does_not_depend_on_claim_order_but_the_dump_keeps_it():
    claims = random_claims(9, seed=4)
    shuffled = claims[::-1]
    assert PayoutTree.build(claims).root == PayoutTree.build(shuffled).root
    assert [v["value"][0] for v in PayoutTree.build(shuffled).dump()["values"]] == [a for a, _ in shuffled]


def test_single_leaf_is_its_own_root_with_an_empty_proof():
    tree = PayoutTree.build([(wallet(7), 12345)])
    assert tree.root == "0x" + reference_leaf(wallet(7), 12345).hex()
    assert tree.proof(wallet(7)) == []
    assert verify_payout_proof(tree.root, wallet(7), 12345, [])
    assert not verify_payout_proof(tree.root, wallet(7), 12346, [])


def test_root_is_lowercase_hex():
    root = PayoutTree.build(random_claims(3, seed=5)).root
    assert root.startswith("0x") and len(root) == 66 and root == root.lower()


# ----------------------------------------------------------------- what must fail


@settings(max_examples=40, deadline=None)
@given(count=st.integers(min_value=2, max_value=20), seed=st.integers(0, 10**6), data=st.data())
def test_any_change_to_amount_wallet_or_proof_fails(count, seed, data):
    claims = random_claims(count, seed)
    tree = PayoutTree.build(claims)
    address, amount = claims[data.draw(st.integers(0, count - 1))]
    proof = tree.proof(address)
    assert verify_payout_proof(tree.root, address, amount, proof)
    delta = data.draw(st.integers(min_value=1, max_value=2**255))
    assert not verify_payout_proof(tree.root, address, (amount + delta) % 2**256, proof)
    other = data.draw(st.sampled_from([a for a, _ in claims if a != address]))
    assert not verify_payout_proof(tree.root, other, amount, proof)
    at = data.draw(st.integers(0, len(proof) - 1))
    position = data.draw(st.integers(2, 65))
    assert not verify_payout_proof(
        tree.root, address, amount, proof[:at] + [flip(proof[at], position)] + proof[at + 1 :]
    )
    assert not verify_payout_proof(tree.root, address, amount, proof[:-1])
    assert not verify_payout_proof(tree.root, address, amount, proof + [proof[-1]])
    assert not verify_payout_proof(flip(tree.root), address, amount, proof)


@pytest.mark.parametrize(
    "change",
    [
        {"root": "c4b4"},
        {"root": "0x" + "g" * 64},
        {"root": None},
        {"wallet": "alice"},
        {"wallet": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"},  # mixed case, wrong checksum
        {"wallet": None},
        {"amount": -1},
        {"amount": 2**256},
        {"amount": "5"},
        {"amount": True},
        {"proof": "0x" + "00" * 32},
        {"proof": ["0x12"]},
        {"proof": [None]},
    ],
)
def test_malformed_input_is_false_not_an_exception(change):
    claims = random_claims(4, seed=6)
    tree = PayoutTree.build(claims)
    address, amount = claims[0]
    args = {"root": tree.root, "wallet": address, "amount": amount, "proof": tree.proof(address)}
    assert verify_payout_proof(**args)
    assert verify_payout_proof(**{**args, **change}) is False


def test_a_lowercase_wallet_verifies_like_its_checksummed_form():
    claims = random_claims(4, seed=7)
    tree = PayoutTree.build(claims)
    address, amount = claims[2]
    assert verify_payout_proof(tree.root, address.lower(), amount, tree.proof(address))
    assert tree.proof(address.lower()) == tree.proof(address)


# ----------------------------------------------------------------- dump and load


def test_load_of_dump_roundtrips_through_json():
    claims = random_claims(7, seed=8)
    tree = PayoutTree.build(claims)
    loaded = PayoutTree.load(json.loads(json.dumps(tree.dump())))
    assert loaded.root == tree.root
    assert loaded.claims == claims
    assert loaded.dump() == tree.dump()
    assert all(loaded.proof(a) == tree.proof(a) for a, _ in claims)


def _tampered(dump: dict, how: str) -> dict:
    dump = copy.deepcopy(dump)
    if how == "amount":
        dump["values"][1]["value"][1] = str(int(dump["values"][1]["value"][1]) + 1)
    elif how == "wallet":
        dump["values"][1]["value"][0] = wallet(0xBAD)
    elif how == "node":
        dump["tree"][0] = flip(dump["tree"][0])
    elif how == "leaf":
        dump["tree"][-1] = flip(dump["tree"][-1])
    elif how == "indices":
        first, second = dump["values"][0], dump["values"][1]
        first["treeIndex"], second["treeIndex"] = second["treeIndex"], first["treeIndex"]
    elif how == "dropped value":
        dump["values"].pop()
    elif how == "extra node":
        dump["tree"].append(dump["tree"][-1])
    return dump


@pytest.mark.parametrize("how", ["amount", "wallet", "node", "leaf", "indices", "dropped value", "extra node"])
def test_a_tampered_dump_is_refused(how):
    dump = PayoutTree.build(random_claims(5, seed=9)).dump()
    with pytest.raises(RewardsError) as caught:
        PayoutTree.load(_tampered(dump, how))
    assert caught.value.code == "E_PAYOUT_TREE_TAMPERED"
    assert "rebuild it" in caught.value.message


@pytest.mark.parametrize(
    "change",
    [
        {"format": "simple-v1"},
        {"leafEncoding": ["address", "uint128"]},
        {"values": None},
        {"values": [{"value": "0x00"}]},
        {"values": [{"value": [wallet(1), "1"], "treeIndex": True}]},
    ],
)
def test_a_dump_of_another_shape_is_refused(change):
    dump = {**PayoutTree.build([(wallet(1), 1)]).dump(), **change}
    with pytest.raises(RewardsError) as caught:
        PayoutTree.load(dump)
    assert caught.value.code == "E_PAYOUT_TREE_DUMP"


# ----------------------------------------------------------------- what build refuses


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ([], "E_PAYOUT_TREE_EMPTY"),
        ([(wallet(1), 5), (wallet(2), 1), (wallet(1), 5)], "E_PAYOUT_TREE_DUPLICATE_WALLET"),
        ([(wallet(1), 5), (wallet(1), 6)], "E_PAYOUT_TREE_DUPLICATE_WALLET"),
        ([(wallet(0xAB).lower(), 5)], "E_PAYOUT_TREE_WALLET"),
        ([("bob", 5)], "E_PAYOUT_TREE_WALLET"),
        ([(wallet(1), -1)], "E_PAYOUT_TREE_AMOUNT"),
        ([(wallet(1), 2**256)], "E_PAYOUT_TREE_AMOUNT"),
        ([(wallet(1), 1.0)], "E_PAYOUT_TREE_AMOUNT"),
        ([(wallet(1), True)], "E_PAYOUT_TREE_AMOUNT"),
        ([(wallet(1), 1, 2)], "E_PAYOUT_TREE_CLAIM"),
        (["0xab"], "E_PAYOUT_TREE_CLAIM"),
    ],
)
def test_bad_claims_are_refused(claims, code):
    with pytest.raises(RewardsError) as caught:
        PayoutTree.build(claims)
    assert caught.value.code == code


def test_empty_tree_message_says_nothing_is_paid():
    with pytest.raises(RewardsError, match="no payouts"):
        PayoutTree.build([])


def test_unknown_wallet_has_no_proof_or_amount():
    tree = PayoutTree.build([(wallet(1), 1), (wallet(2), 2)])
    assert wallet(3) not in tree and wallet(1) in tree
    for ask in (tree.proof, tree.amount):
        with pytest.raises(RewardsError) as caught:
            ask(wallet(3))
        assert caught.value.code == "E_PAYOUT_TREE_UNKNOWN_WALLET"


def test_an_allocation_becomes_a_tree_of_its_paid_wallets():
    allocation = allocate({wallet(1): 3, wallet(2): 0, wallet(3): 1}, 10**21)
    tree = PayoutTree.build(allocation.claims())
    assert tree.claims == [(wallet(1), 75 * 10**19), (wallet(3), 25 * 10**19)]
    assert wallet(2) not in tree
    for address, amount in tree.claims:
        assert verify_payout_proof(tree.root, address, amount, tree.proof(address))
