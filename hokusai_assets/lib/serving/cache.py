"""The prediction cache: keys that name the model, and a bounded in-process store with a TTL.

A cached prediction is keyed by the *resolved* model digest and the SHA-256 of the RFC 8785
canonical JSON of the input row. An alias is never part of a key, so after a promotion or a
rollback the next request resolves to the new digest and cannot meet the old model's answer
(the design this replaces keyed on the literal version "latest").
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from hokusai_assets.lib.commitments.canonical import canonical_json

SAFE_INTEGER = 2**53 - 1  # RFC 8785 numbers are IEEE doubles: larger integers are not exact


def row_digest(row: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the row's canonical JSON: the same values give the same digest whatever the key order.

    An integer beyond 2^53 is written as its decimal string; a feature value is never a string
    (requests.py refuses them), so no other row can collide with it.
    """
    exact = {
        name: str(value) if isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE_INTEGER else value
        for name, value in row.items()
    }
    return hashlib.sha256(canonical_json(exact)).hexdigest()


def prediction_key(model_digest: str, row: Mapping[str, Any]) -> str:
    return f"hokusai:prediction:{model_digest}:{row_digest(row)}"


class TTLCache:
    """At most ``max_entries`` values, each for ``ttl_seconds``; least recently used go first.

    Thread-safe: the server's event loop and its scoring threads both use it.
    """

    def __init__(self, max_entries: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError("a cache needs max_entries >= 1 and ttl_seconds > 0")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> list[Any | None]:
        now = self._clock()
        found: list[Any | None] = []
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None or entry[0] <= now:
                    if entry is not None:
                        del self._entries[key]
                    found.append(None)
                    continue
                self._entries.move_to_end(key)
                found.append(entry[1])
        return found

    def put_many(self, items: Mapping[str, Any]) -> None:
        expires = self._clock() + self.ttl_seconds
        with self._lock:
            for key, value in items.items():
                self._entries[key] = (expires, value)
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
