"""Attestations: the statement and its one definition, DSSE and EIP-712 signing, the verifier, row proofs."""
