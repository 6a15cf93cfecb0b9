"""Commitments: canonical rows (RFC 8785), Merkle data roots and proofs (RFC 6962), digests."""
