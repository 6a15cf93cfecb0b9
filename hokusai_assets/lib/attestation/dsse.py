"""The DSSE envelope's form (https://github.com/secure-systems-lab/dsse, ``protocol.md``).

``payloadType`` = ``application/vnd.in-toto+json``; the Ed25519 signature (RFC 8032,
deterministic) is over ``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body)
SP body`` with ``LEN`` the ASCII decimal byte count. The envelope is
``{"payload": base64(statement bytes), "payloadType": ..., "signatures": [{"keyid",
"sig"}]}`` in standard, padded base64, serialised with RFC 8785 (so its bytes are
fixed too). The key id is ``"ed25519:" + hex(sha256(public key))[:16]``.
"""

from __future__ import annotations

import base64
import hashlib

PAYLOAD_TYPE = "application/vnd.in-toto+json"


def b64encode(data: bytes) -> str:
    """Standard, padded base64 (RFC 4648 section 4), as DSSE envelopes carry it."""
    return base64.b64encode(data).decode("ascii")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding of ``payload`` with its type."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def ed25519_keyid(public_key: bytes) -> str:
    """``"ed25519:"`` + the first 16 hex digits of SHA-256 of the raw 32-byte public key."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]
