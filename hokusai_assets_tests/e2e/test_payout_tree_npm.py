"""The payout tree against the reference itself: ``@openzeppelin/merkle-tree`` run by node.

A contract checks claims with OZ's MerkleProof, and wallets or front ends build their
proofs with the npm package; so the root, every proof and the dump must be the npm
package's, byte for byte. ``hokusai_assets_tests/js`` pins the package (package-lock.json)
and ``make test`` installs it with ``npm ci``.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from hokusai_assets.lib.rewards.payout_tree import PayoutTree, verify_payout_proof

pytestmark = pytest.mark.e2e

JS = Path(__file__).resolve().parent.parent / "js"
SCRIPT = JS / "oz_payout_tree.mjs"


@pytest.fixture(scope="module")
def oz():
    """Run the npm reference: ``oz(mode, payload) -> parsed JSON output``."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js 20 or later, then run make test")
    if not (JS / "node_modules" / "@openzeppelin" / "merkle-tree").is_dir():
        # make test installs it first; a lone pytest run installs it here, from the lockfile.
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not on PATH: install Node.js 20 or later with npm, then run make test")
        done = subprocess.run(
            [npm, "ci", "--prefix", str(JS), "--no-audit", "--no-fund"], capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {JS} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")

    def run(mode: str, payload) -> dict:
        done = subprocess.run(
            [node, str(SCRIPT), mode], input=json.dumps(payload), capture_output=True, text=True, cwd=JS, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


def payout_set(count: int, seed: int) -> list[tuple[str, int]]:
    """Random claims with the awkward amounts mixed in: 0, 1, above 2**53, and the uint256 maximum."""
    rng = random.Random(seed)
    special = [0, 1, 2**53 + 1, 10**30, 2**256 - 1]
    amounts = [
        rng.choice(special) if rng.random() < 0.3 else rng.randrange(2 ** rng.choice([8, 64, 128, 256]))
        for _ in range(count)
    ]
    return [(to_checksum_address(rng.randbytes(20)), amount) for amount in amounts]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16, 33])
def test_root_proofs_and_dump_are_the_npm_packages(oz, count):
    claims = payout_set(count, seed=1000 + count)
    reference = oz("build", [[address, str(amount)] for address, amount in claims])
    tree = PayoutTree.build(claims)

    assert tree.root == reference["root"]
    assert [tree.proof(address) for address, _ in claims] == reference["proofs"]
    assert tree.dump() == reference["dump"]
    # The dump npm wrote loads here, and every npm proof verifies here.
    assert PayoutTree.load(reference["dump"]).root == reference["root"]
    for (address, amount), proof in zip(claims, reference["proofs"]):
        assert verify_payout_proof(reference["root"], address, amount, proof)


def test_npm_verify_accepts_our_proofs_and_rejects_a_changed_amount(oz):
    claims = payout_set(7, seed=7)
    tree = PayoutTree.build(claims)
    for index in (0, 3, 6):
        address, amount = claims[index]
        claim = {"root": tree.root, "value": [address, str(amount)], "proof": tree.proof(address)}
        assert oz("verify", claim) == {"valid": True}
        changed = {**claim, "value": [address, str((amount + 1) % 2**256)]}
        assert oz("verify", changed) == {"valid": False}
