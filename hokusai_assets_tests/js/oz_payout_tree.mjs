// The reference the Python payout tree must match: @openzeppelin/merkle-tree itself.
// Used by hokusai_assets_tests/e2e/test_payout_tree_npm.py; reads JSON on stdin, writes JSON on stdout.
//   node oz_payout_tree.mjs build   [[address, "amount"], ...]  ->  {root, proofs (input order), dump}
//   node oz_payout_tree.mjs verify  {root, value: [address, "amount"], proof}  ->  {valid}
import { readFileSync } from "node:fs";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";

const ENCODING = ["address", "uint256"];
const mode = process.argv[2] ?? "build";
const input = JSON.parse(readFileSync(0, "utf8"));

if (mode === "build") {
  const tree = StandardMerkleTree.of(input, ENCODING);
  const proofs = input.map((_, i) => tree.getProof(i));
  process.stdout.write(JSON.stringify({ root: tree.root, proofs, dump: tree.dump() }));
} else if (mode === "verify") {
  const valid = StandardMerkleTree.verify(input.root, ENCODING, input.value, input.proof);
  process.stdout.write(JSON.stringify({ valid }));
} else {
  process.stderr.write(`unknown mode ${mode}; use build or verify\n`);
  process.exit(2);
}
