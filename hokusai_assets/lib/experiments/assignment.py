"""Which arm a unit sees: a keyed hash of its id, so assignment is sticky and needs no state.

``bucket = HMAC-SHA256(experiment salt, unit id) mod 10 000``; the unit sees A when its
bucket is below A's share in basis points, else B. The same unit gets the same arm in every
server process and after every restart, and nobody without the salt can predict or steer
an assignment (a plain hash of the unit id could be computed by a client choosing ids).
The HMAC also names the unit in storage (``unit_key``), so a unit id (often a user id or an
e-mail) is never written in clear.
"""

from __future__ import annotations

import hashlib
import hmac

BUCKETS = 10_000
ARM_A, ARM_B = "a", "b"
ARMS = (ARM_A, ARM_B)


def unit_digest(salt: bytes, unit_id: str) -> bytes:
    return hmac.new(salt, unit_id.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def unit_key(salt: bytes, unit_id: str) -> str:
    """The unit's pseudonym in storage: hex of its keyed hash."""
    return unit_digest(salt, unit_id).hex()


def bucket_of_key(key: str) -> int:
    return int(key, 16) % BUCKETS


def arm_of_bucket(bucket: int, a_bps: int) -> str:
    return ARM_A if bucket < a_bps else ARM_B


def assign(salt: bytes, unit_id: str, a_bps: int) -> tuple[str, str]:
    """(arm, unit key) of ``unit_id`` in an experiment giving A ``a_bps`` of 10 000 buckets."""
    key = unit_key(salt, unit_id)
    return arm_of_bucket(bucket_of_key(key), a_bps), key
