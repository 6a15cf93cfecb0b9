"""The payout root: an OpenZeppelin StandardMerkleTree of ``(address, uint256)`` claims.

This module owns how an epoch's payouts become one 32-byte root a contract stores, and the
proof each wallet presents to claim its amount. It reproduces ``@openzeppelin/merkle-tree``
``StandardMerkleTree.of(values, ["address", "uint256"])`` (default ``sortLeaves: true``)
byte for byte; ``hokusai_assets_tests/e2e/test_payout_tree_npm.py`` checks that against the
npm package itself.

Contract
--------
* Leaf = ``keccak256(keccak256(abi.encode(address, uint256)))``. Hashing twice means no
  leaf is 64 bytes long, so no internal node can pass for a leaf (second preimage).
* Leaves are sorted ascending by hash and stored in OZ's array form: ``tree`` has
  ``2n - 1`` nodes, leaf ``i`` (sorted order) at ``tree[2n - 2 - i]``, and node ``i`` is
  ``hash_pair(tree[2i + 1], tree[2i + 2])``, where ``hash_pair(a, b) = keccak256(min ‖ max)``
  (bytewise order: commutative, so a proof needs no left/right flags). ``root = tree[0]``;
  a single leaf is its own root with an empty proof.
* A proof lists the siblings from the leaf up. A contract accepts it with
  ``MerkleProof.verify(proof, root, keccak256(bytes.concat(keccak256(abi.encode(account, amount)))))``.
* :meth:`PayoutTree.dump` is OZ's ``dump()`` (``standard-v1``): ``values`` in the order the
  claims were given, each ``{"value": [address, "<decimal amount>"], "treeIndex": k}``.
  :meth:`PayoutTree.load` rebuilds the tree from those values and refuses a dump whose
  nodes or indices differ, so a tampered dump cannot be loaded.
* A tree holds exactly the claims it is given (EIP-55 wallets, each once, amounts in
  ``[0, 2**256)``); an empty list has no tree: nothing is paid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from eth_abi import encode as abi_encode
from eth_utils import is_address, keccak

from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.payouts import check_wallet, wallet_order

LEAF_ENCODING = ["address", "uint256"]
DUMP_FORMAT = "standard-v1"
UINT256_LIMIT = 2**256
_NODE_HEX = re.compile(r"0x[0-9a-fA-F]{64}")
_DECIMAL = re.compile(r"[0-9]+")


def _hex(node: bytes) -> str:
    return "0x" + node.hex()


def _check_amount(amount: object, wallet: str) -> int:
    # bool is an int subclass; abi-encoding True as 1 would hide a bug.
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < UINT256_LIMIT:
        raise RewardsError(
            f"the amount of {wallet} is {amount!r}; a payout is an integer in [0, 2**256) of the token's smallest unit",
            code="E_PAYOUT_TREE_AMOUNT",
        )
    return amount


def _leaf(wallet: str, amount: int) -> bytes:
    return keccak(keccak(abi_encode(LEAF_ENCODING, [wallet, amount])))


def payout_leaf(wallet: str, amount: int) -> bytes:
    """The leaf hash of one claim: ``keccak256(keccak256(abi.encode(wallet, amount)))``."""
    check_wallet(wallet, code="E_PAYOUT_TREE_WALLET")
    return _leaf(wallet, _check_amount(amount, wallet))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OZ's commutative node hash: keccak256 of the two children in ascending byte order."""
    return keccak(a + b if a <= b else b + a)


def _sibling(index: int) -> int:
    # OZ: siblingIndex(i) = i - (-1) ** (i % 2): odd (left) children pair with i + 1.
    return index + 1 if index % 2 else index - 1


class PayoutTree:
    """One epoch's claims and their StandardMerkleTree; build it with :meth:`build` or :meth:`load`."""

    def __init__(self, claims: Sequence[tuple[str, int]], tree: Sequence[bytes], tree_index: Sequence[int]) -> None:
        self._claims = tuple(claims)  # in the order given: OZ's dump keeps it
        self._tree = tuple(tree)
        self._tree_index = tuple(tree_index)  # of each claim, in claim order
        self._position = {wallet_order(w): i for i, (w, _) in enumerate(self._claims)}

    @classmethod
    def build(cls, claims: Sequence[tuple[str, int]]) -> PayoutTree:
        """The tree of ``claims`` (``(wallet, amount)`` pairs), as ``StandardMerkleTree.of`` builds it."""
        claims = list(claims)
        if not claims:
            raise RewardsError(
                "there are no payouts, so there is no payout tree; an epoch that pays nothing publishes no root",
                code="E_PAYOUT_TREE_EMPTY",
            )
        seen: set[str] = set()
        leaves: list[bytes] = []
        for claim in claims:
            if isinstance(claim, (str, bytes)) or not isinstance(claim, Sequence) or len(claim) != 2:
                raise RewardsError(f"a payout is (wallet, amount), got {claim!r}", code="E_PAYOUT_TREE_CLAIM")
            wallet, amount = claim
            leaves.append(payout_leaf(wallet, amount))
            if wallet_order(wallet) in seen:
                raise RewardsError(
                    f"wallet {wallet} has two payouts; a wallet claims once per epoch, so sum its amounts first",
                    code="E_PAYOUT_TREE_DUPLICATE_WALLET",
                )
            seen.add(wallet_order(wallet))
        n = len(leaves)
        order = sorted(range(n), key=lambda i: leaves[i])  # claim indices in leaf-hash order
        tree: list[bytes] = [b""] * (2 * n - 1)
        tree_index = [0] * n
        for rank, claim_index in enumerate(order):
            tree_index[claim_index] = len(tree) - 1 - rank
            tree[len(tree) - 1 - rank] = leaves[claim_index]
        for i in range(len(tree) - 1 - n, -1, -1):
            tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
        return cls([(wallet, amount) for wallet, amount in claims], tree, tree_index)

    @property
    def root(self) -> str:
        """``0x`` + 64 lowercase hex digits: what the contract stores."""
        return _hex(self._tree[0])

    @property
    def claims(self) -> list[tuple[str, int]]:
        """The ``(wallet, amount)`` claims, in the order given."""
        return list(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    def __contains__(self, wallet: object) -> bool:
        return isinstance(wallet, str) and wallet_order(wallet) in self._position

    def _claim_index(self, wallet: str) -> int:
        if wallet not in self:
            raise RewardsError(
                f"wallet {wallet!r} has no payout in this tree; check the epoch and the address",
                code="E_PAYOUT_TREE_UNKNOWN_WALLET",
            )
        return self._position[wallet_order(wallet)]

    def amount(self, wallet: str) -> int:
        """The amount ``wallet`` may claim (any letter case of the address)."""
        return self._claims[self._claim_index(wallet)][1]

    def proof(self, wallet: str) -> list[str]:
        """The sibling hashes from ``wallet``'s leaf up to the root, as OZ's ``getProof``."""
        index = self._tree_index[self._claim_index(wallet)]
        proof = []
        while index > 0:
            proof.append(_hex(self._tree[_sibling(index)]))
            index = (index - 1) // 2
        return proof

    def dump(self) -> dict:
        """OZ's ``StandardMerkleTree.dump()``: amounts as decimal strings, values in claim order."""
        return {
            "format": DUMP_FORMAT,
            "leafEncoding": list(LEAF_ENCODING),
            "tree": [_hex(node) for node in self._tree],
            "values": [
                {"value": [wallet, str(amount)], "treeIndex": index}
                for (wallet, amount), index in zip(self._claims, self._tree_index)
            ],
        }

    @classmethod
    def load(cls, dump: Mapping) -> PayoutTree:
        """Rebuild the tree from a dump's values; refuse it unless its tree and indices are exactly what they give."""
        if not isinstance(dump, Mapping) or dump.get("format") != DUMP_FORMAT:
            raise RewardsError(
                f"not a StandardMerkleTree dump (format {DUMP_FORMAT!r} expected); load the file PayoutTree.dump wrote",
                code="E_PAYOUT_TREE_DUMP",
            )
        if dump.get("leafEncoding") != LEAF_ENCODING:
            raise RewardsError(
                f"the dump's leaf encoding is {dump.get('leafEncoding')!r}; a payout tree is {LEAF_ENCODING!r}",
                code="E_PAYOUT_TREE_DUMP",
            )
        values, nodes = dump.get("values"), dump.get("tree")
        if not isinstance(values, list) or not isinstance(nodes, list):
            raise RewardsError("the dump has no list of values and tree nodes", code="E_PAYOUT_TREE_DUMP")
        claims, indices = [], []
        for entry in values:
            try:
                (wallet, amount), index = entry["value"], entry["treeIndex"]
            except (TypeError, KeyError, ValueError):
                raise RewardsError(
                    f"dump value {entry!r} is not {{'value': [address, amount], 'treeIndex': k}}",
                    code="E_PAYOUT_TREE_DUMP",
                ) from None
            if isinstance(amount, str) and _DECIMAL.fullmatch(amount):
                amount = int(amount)
            if type(index) is not int:  # JSON true would compare equal to 1
                raise RewardsError(f"dump value {entry!r} has no integer treeIndex", code="E_PAYOUT_TREE_DUMP")
            claims.append((wallet, amount))
            indices.append(index)
        rebuilt = cls.build(claims)
        if [str(node).lower() for node in nodes] != rebuilt.dump()["tree"] or indices != list(rebuilt._tree_index):
            raise RewardsError(
                "the dump's tree does not match its values (edited, truncated or built with other options); "
                "rebuild it from the epoch's payouts",
                code="E_PAYOUT_TREE_TAMPERED",
            )
        return rebuilt


def verify_payout_proof(root: str, wallet: str, amount: int, proof: Sequence[str]) -> bool:
    """Whether ``proof`` proves ``(wallet, amount)`` under ``root`` (OZ's ``MerkleProof.verify``).

    False, never an exception, for a wrong proof and for malformed input. ``wallet`` may be in
    any letter case the address type allows (the leaf does not depend on it), but a mixed-case
    address with a wrong checksum is malformed.
    """
    if not isinstance(root, str) or not _NODE_HEX.fullmatch(root):
        return False
    if not isinstance(wallet, str) or not is_address(wallet):
        return False
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < UINT256_LIMIT:
        return False
    if isinstance(proof, (str, bytes)) or not all(isinstance(n, str) and _NODE_HEX.fullmatch(n) for n in proof):
        return False
    node = _leaf(wallet, amount)
    for sibling in proof:
        node = hash_pair(node, bytes.fromhex(sibling[2:]))
    return node == bytes.fromhex(root[2:])
