"""The leaf index: canonical-row hashes of every accepted contribution.

Deduplication against earlier contributions compares leaf hashes, so the index keeps one
file per accepted contribution: its distinct leaves, sorted, concatenated (32 bytes
each). Hashes reveal nothing about the rows beyond equality, which is all we need.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hokusai_assets.lib.files import atomic_write_bytes

LEAF_BYTES = 32


class LeafIndex:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.leaves"

    def put(self, key: str, leaves: Iterable[bytes]) -> None:
        atomic_write_bytes(self._path(key), b"".join(sorted(set(leaves))))

    def get(self, key: str) -> frozenset[bytes]:
        path = self._path(key)
        if not path.is_file():
            return frozenset()
        data = path.read_bytes()
        return frozenset(data[i : i + LEAF_BYTES] for i in range(0, len(data), LEAF_BYTES))

    def keys(self) -> list[str]:
        """Every contribution with leaves on record (every accepted one)."""
        return sorted(p.name[: -len(".leaves")] for p in self.directory.glob("*.leaves"))

    def union(self, keys: Iterable[str]) -> frozenset[bytes]:
        leaves: set[bytes] = set()
        for key in keys:
            leaves |= self.get(key)
        return frozenset(leaves)
