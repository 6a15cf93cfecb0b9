"""What identifies a contribution: its bytes (the partition key) and its contributor."""

from __future__ import annotations

import re
from dataclasses import dataclass

KEY_PREFIX = "c-"
KEY_HEX_DIGITS = 16
# A partition key, with its hex digits as group 1 (the EIP-712 nonce is that number).
PARTITION_KEY_RE = re.compile(rf"{KEY_PREFIX}([0-9a-f]{{{KEY_HEX_DIGITS}}})")


def partition_key(digest: str) -> str:
    """``sha256:<hex>`` of the received file -> ``c-<first 16 hex digits>``.

    Content-addressed: the same bytes submitted twice are the same partition.
    """
    return KEY_PREFIX + digest.split(":", 1)[1][:KEY_HEX_DIGITS]


@dataclass(frozen=True)
class Contributor:
    """Who sent a contribution: the wallet rewards go to, and what they said about it."""

    wallet: str
    contributor_id: str | None = None
    license: str | None = None
