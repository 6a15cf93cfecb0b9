"""The PII key and the pseudonym of one value: HMAC-SHA256 of its normalised form, never a plain hash."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass, field

from hokusai_assets.lib.errors import HokusaiError

ENTITIES = (
    "email",
    "phone",
    "us_ssn",
    "payment_card",
    "iban",
    "ip_address",
    "eth_private_key",
    "seed_phrase",
)

_KEY_BYTES = 32
PSEUDONYM_HEX = 24
_KEY_ID_CONTEXT = b"hokusai pii key id"


class PiiError(HokusaiError):
    """PII key problems and misuse of the PII API."""

    code = "E_PII"


# --------------------------------------------------------------------------- key


@dataclass(frozen=True)
class PiiKey:
    """The HMAC key. ``key_id`` identifies it (safe to record); ``secret`` never leaves."""

    secret: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_secret(cls, secret: bytes) -> PiiKey:
        if len(secret) != _KEY_BYTES:
            raise PiiError(
                f"a PII key must be {_KEY_BYTES} bytes, got {len(secret)}",
                code="E_PII_KEY_INVALID",
            )
        return cls(secret=bytes(secret), key_id=key_id_for(secret))


def key_id_for(secret: bytes) -> str:
    return "hmac-sha256:" + hashlib.sha256(_KEY_ID_CONTEXT + secret).hexdigest()[:16]


# --------------------------------------------------------------------- pseudonym


NOT_DIGIT = re.compile(r"[^0-9]")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_LOWER_WORD = re.compile(r"[a-z]+")


def only_digits(value: str) -> str:
    return NOT_DIGIT.sub("", value)


def _normalise_phone(value: str) -> str:
    text = value.strip()
    if text.startswith("+"):
        text = text.replace("(0)", "")  # "+44 (0)20 ..." is "+44 20 ..."
        return only_digits(text)
    digits = only_digits(text)
    if digits.startswith("00"):  # "0044 20 ..." is "+44 20 ..."
        return digits[2:]
    return digits


OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(OCTET + r"(?:\." + OCTET + "){3}")


def _normalise_ip(value: str) -> str:
    value = value.strip()
    if _CANONICAL_IPV4.fullmatch(value):  # already canonical (and ipaddress is slow)
        return value
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return value.lower()


def normalise_eth_key(value: str) -> str:
    text = value.strip().lower()
    return text[2:] if text.startswith("0x") else text


_NORMALISERS = {
    "email": lambda v: v.strip().lower(),
    "phone": _normalise_phone,
    "us_ssn": only_digits,
    "payment_card": only_digits,
    "iban": lambda v: _NOT_ALNUM.sub("", v).upper(),
    "ip_address": _normalise_ip,
    "eth_private_key": normalise_eth_key,
    "seed_phrase": lambda v: " ".join(_LOWER_WORD.findall(v.lower())),
}


def normalise(entity: str, value: str) -> str:
    """The canonical form of ``value`` (formatting variants of one identifier agree)."""
    normaliser = _NORMALISERS.get(entity)
    if normaliser is None:
        raise PiiError(
            f"unknown PII entity {entity!r}; use one of {', '.join(ENTITIES)}",
            code="E_PII_UNKNOWN_ENTITY",
        )
    return normaliser(value)


def pseudonym(key: PiiKey, entity: str, value: str) -> str:
    """``<entity:hex24>``: HMAC-SHA256(key, entity NUL normalised value), cut to 96 bits."""
    message = entity.encode() + b"\x00" + normalise(entity, value).encode("utf-8")
    digest = hmac.digest(key.secret, message, "sha256").hex()
    return f"<{entity}:{digest[:PSEUDONYM_HEX]}>"
