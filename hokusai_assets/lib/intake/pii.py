"""Value-level PII detection and keyed pseudonymisation of tabular contributions.

Every string cell is scanned for e-mail addresses, phone numbers, US SSNs, payment cards,
IBANs, IP addresses, Ethereum private keys and BIP-39 seed phrases. Each detected *span*
is replaced by ``<entity:hex24>``, the first 24 hex digits of an HMAC-SHA256 under the
platform's PII key, so the same identifier always gets the same pseudonym (joins and
deduplication still work) while nobody without the key can link or reverse it, not even
with a dictionary of every phone number. Never plain hashes: an unkeyed hash of a phone
number is reversible by enumeration (the mistake the old pipeline made).

How it stays fast on a million rows (no per-row Python on the hot path):

1. one combined prefilter regex runs in C (RE2, ``pyarrow.compute.match_substring_regex``)
   over the whole column. It is built from the same patterns as the precise detectors,
   with their look-arounds emulated by consuming a neighbouring character, so it is a
   superset of them: a cell it does not match holds nothing to find;
2. on the few candidate cells, one RE2 gate per detector says which detectors can match
   (for seed phrases: every BIP-39 word is marked in C and a run of twelve marks looked
   for), so Python runs only those;
3. Python applies the precise patterns (leftmost match wins) and the validators (Luhn,
   mod-97, SSN ranges, octets, key range, context words) and substitutes pseudonyms;
4. changed cells go round again until nothing changes, so what comes out is exactly what
   :func:`find_cleartext_pii` accepts (a replacement can change a neighbour's context).

Rules for the cases that look alike (documented here because tests pin them):

* **phone**: ``+<country>`` international numbers (separators optional) with 10-15
  digits; national numbers only in recognisable shapes with separators: North American
  ``(415) 555-2671`` / ``415.555.2671`` / ``1-800-555-0199`` (area and exchange 2-9), and
  trunk-prefixed ``0...`` numbers with one consistent separator (``020 7946 0958``,
  ``06 12 34 56 78``, ``0044 20 7946 0958``). A plain digit run is never a phone (order
  numbers, IDs); dates and times are excluded by digit count, separators and context.
* **us_ssn**: ``AAA-GG-SSSS`` (dashes or spaces, the same both times), area not 000, 666
  or 900-999, group not 00, serial not 0000. A bare 9-digit run is not flagged.
* **payment_card**: 13-19 digits, contiguous or in 4-4-4-4(-3) / 4-6-4(5) groups with one
  consistent separator, Luhn-valid, with a known IIN prefix and a length that brand uses.
* **iban**: country letters, 2 check digits, BBAN; contiguous or in groups of 4 separated
  by single spaces; mod-97 == 1 and the registry length for known countries (15-34
  otherwise). Trailing words swallowed by the grouping are given back.
* **ip_address**: dotted-quad IPv4 with octets 0-255 (no leading zeros) that is not part
  of a longer dotted sequence (``1.2.3.4.5``), not glued to a word (``v1.2.3.4``), not
  announced as a version or a section (``version 1.2.3.4``, ``release``, ``build``,
  ``fw``, ``section``, ``§`` ..., ``libfoo-1.2.3.4``) and without a pre-release or build
  suffix (``1.2.3.4-beta``); a bare ``1.2.3.4`` is an address. IPv6 in full or ``::``
  compressed form (also with an IPv4 tail) that :mod:`ipaddress` accepts, with at least
  two non-empty groups and a digit (so ``::1``, ``a::b``, ``std::map`` and times like
  ``10:30:00`` or MAC addresses are not addresses).
* **eth_private_key**: exactly 64 hex digits as a whole token, optionally ``0x``,
  in the secp256k1 key range, and not labelled as a hash (``sha256:``, ``sha3``,
  ``keccak``, ``digest``, ``hash``, ``checksum``, ``tx``/``txid``, ``block``, ``root``
  ...). A 40-hex Ethereum address, a 128-hex digest or a short hex id never matches.
  An unlabelled 0x-64-hex value (it could be a transaction hash) *is* flagged: when in
  doubt about a secret, hide it.
* **seed_phrase**: a run of at least 12 consecutive BIP-39 English words (whole ASCII
  words, case-insensitive, separated by whitespace or commas; longer runs than 24 and
  lengths other than 12/15/18/21/24 are flagged too, the checksum is not required, since
  a mistyped phrase is still a secret); the whole run becomes one pseudonym. The wordlist
  is the one ``eth-account`` ships (read from the installed package, no download).
* Pseudonym tokens ``<entity:hex24>`` are recognised first and never detected again.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
_PSEUDONYM_HEX = 24
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


_NOT_DIGIT = re.compile(r"[^0-9]")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_LOWER_WORD = re.compile(r"[a-z]+")


def _digits(value: str) -> str:
    return _NOT_DIGIT.sub("", value)


def _normalise_phone(value: str) -> str:
    text = value.strip()
    if text.startswith("+"):
        text = text.replace("(0)", "")  # "+44 (0)20 ..." is "+44 20 ..."
        return _digits(text)
    digits = _digits(text)
    if digits.startswith("00"):  # "0044 20 ..." is "+44 20 ..."
        return digits[2:]
    return digits


_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(_OCTET + r"(?:\." + _OCTET + "){3}")


def _normalise_ip(value: str) -> str:
    value = value.strip()
    if _CANONICAL_IPV4.fullmatch(value):  # already canonical (and ipaddress is slow)
        return value
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return value.lower()


def _normalise_eth_key(value: str) -> str:
    text = value.strip().lower()
    return text[2:] if text.startswith("0x") else text


_NORMALISERS = {
    "email": lambda v: v.strip().lower(),
    "phone": _normalise_phone,
    "us_ssn": _digits,
    "payment_card": _digits,
    "iban": lambda v: _NOT_ALNUM.sub("", v).upper(),
    "ip_address": _normalise_ip,
    "eth_private_key": _normalise_eth_key,
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
    return f"<{entity}:{digest[:_PSEUDONYM_HEX]}>"


# ---------------------------------------------------------------------- patterns
#
# Each detector is (body, not_before, not_after, not_after_pair). Python compiles it with
# look-arounds; the RE2 prefilter emulates them by consuming one character, which keeps
# the prefilter a superset of the precise pattern. Bodies use only syntax both engines
# read the same way (ASCII classes, no back-references).

_HEX = "[0-9A-Fa-f]"
_H16 = _HEX + "{1,4}"
_IPV4_TAIL = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"

_DETECTORS: tuple[tuple[str, str, str, str, tuple[str, str] | None], ...] = (
    (
        "email",
        r"[A-Za-z0-9_%+\-][A-Za-z0-9._%+\-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}",
        r"\w.%+\-",
        r"\w\-",
        (r"\.", r"\w"),
    ),
    ("eth_private_key", r"(?:0[xX])?" + _HEX + "{64}", r"\w", r"\w", None),
    (
        "iban",
        r"[A-Za-z]{2}[0-9]{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)",
        r"\w",
        r"\w",
        None,
    ),
    (
        "ipv6",
        "(?:"
        + f"(?:{_H16}:){{7}}{_H16}"
        + f"|(?:{_H16}:){{6}}{_IPV4_TAIL}"
        + f"|(?:{_H16}(?::{_H16}){{0,6}})?::(?:{_H16}(?::{_H16}){{0,6}})?(?:\\.[0-9]{{1,3}}){{0,3}}"
        + ")",
        r"\w:.",
        r"\w:",
        (r"\.", "0-9"),
    ),
    ("ipv4", _OCTET + r"(?:\." + _OCTET + "){3}", r"\w.", r"\w", (r"\.", r"\w")),
    (
        "payment_card",
        r"[0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}(?:[ \-][0-9]{3})?"
        r"|[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{4,5}|[0-9]{13,19}",
        r"\w.,\-",
        r"\w",
        (r".,\-", "0-9"),
    ),
    ("us_ssn", r"[0-9]{3}[ \-][0-9]{2}[ \-][0-9]{4}", r"\w.\-", r"\w", (r".\-", "0-9")),
    (
        "phone",
        # international: +<country> then digits, separators optional
        r"\+(?:[0-9]{6,15}|[0-9]{1,3}(?: ?\(0\))?(?:[ .\-]?\([0-9]{1,5}\))?[ .\-]?[0-9]{1,5}(?:[ .\-][0-9]{1,8}){0,5})"
        # North American national
        r"|(?:1[ .\-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}"
        # trunk-prefixed national (and 00 international prefix)
        r"|(?:0[0-9]{1,4}|\(0[0-9]{1,4}\))(?:[ .\-][0-9]{2,8}){1,4}",
        r"\w.+/:@\-",
        r"\w:/@",
        (r".\-,", "0-9"),
    ),
)

# Words of BIP-39 are 3-8 letters; the separators are whitespace or commas.
_SEED_SEP = r"[ \t\r\n\f\v,]"
_SEED_SHAPE = r"[A-Za-z]{3,8}(?:" + _SEED_SEP + r"+[A-Za-z]{3,8}){11}"
_SEED_MIN_WORDS = 12

_PSEUDONYM_RE = r"<(?:" + "|".join(ENTITIES) + r"):[0-9a-f]{%d}>" % _PSEUDONYM_HEX


def _python_detector(name: str, body: str, before: str, after: str, pair) -> str:
    # pair = (first, second): not followed by a [first] character that is followed by [second]
    tail = f"[{after}]" + (f"|[{pair[0]}][{pair[1]}]" if pair else "")
    return f"(?P<{name}>(?<![{before}])(?:{body})(?!{tail}))"


def _re2_detector(body: str, before: str, after: str, pair) -> str:
    # RE2 has no look-arounds: consume the neighbouring character instead (or hit an end).
    if pair:
        tail = f"(?:$|[^{after}{pair[0]}]|[{pair[0]}](?:$|[^{pair[1]}]))"
    else:
        tail = f"(?:$|[^{after}])"
    return f"(?:^|[^{before}])(?:{body}){tail}"


_SEED_BIT = 1 << len(_DETECTORS)
_WORD = re.compile(r"\b[A-Za-z]+\b", re.ASCII)
_SEED_SEPARATORS = " \t\r\n\f\v,"

#: One RE2 pattern per detector (and the seed-phrase shape last), each a superset of it.
ENTITY_PREFILTERS = tuple(_re2_detector(*d[1:]) for d in _DETECTORS) + (_SEED_SHAPE,)
#: The RE2 prefilter of the whole scan: any cell it does not match holds no PII.
PREFILTER = "|".join(ENTITY_PREFILTERS)


@lru_cache(maxsize=None)
def _combined(detector_bits: int, with_skip: bool) -> re.Pattern[str]:
    """The Python pattern of the detectors in ``detector_bits`` (leftmost match wins)."""
    parts = ["(?P<skip>" + _PSEUDONYM_RE + ")"] if with_skip else []
    parts += [_python_detector(*d) for i, d in enumerate(_DETECTORS) if detector_bits >> i & 1]
    return re.compile("|".join(parts), re.ASCII)


# Words that announce a dotted number that is not an address: a version or a section.
_VERSION_BEFORE = re.compile(
    r"(?:\b(?:v|ver|version|versions|release|rel|build|rev|revision|fw|firmware|sdk|api|"
    r"python|java|node|kernel|os|section|sec|clause|chapter|ch|para|paragraph|step|rule|"
    r"table|figure|fig|item|art|article|no|nr)\s*[:=#.]?\s*|[A-Za-z]-|\u00a7\s*)$",
    re.IGNORECASE,
)
# "1.2.3.4-beta", "1.2.3.4+build": a pre-release or build suffix makes it a version.
_VERSION_AFTER = re.compile(r"[\-+][A-Za-z]")
_HASH_LABEL_BEFORE = re.compile(
    r"\b(?:sha-?(?:1|2|3|224|256|384|512)(?:-?256)?|sha3(?:-?256)?|keccak(?:-?256)?|"
    r"blake2[bs]?(?:-?256)?|blake3|hash|hashes|digest|checksum|hmac|"
    r"tx|txid|txn|tx_?hash|transaction|block|block_?hash|commit|root|merkle|data_root|"
    r"multihash|cid)\s*[:=#]?\s*$",
    re.ASCII | re.IGNORECASE,
)
_SECP256K1_N = int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

# Registry lengths of IBANs by country; other country codes need 15-34 characters.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


# -------------------------------------------------------------------- validators


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_brand_ok(digits: str) -> bool:
    """A known issuer prefix, with a length that issuer uses."""
    n = len(digits)
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if 2200 <= p4 <= 2204:  # Mir
        return 16 <= n <= 19
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925:  # Discover
        return 16 <= n <= 19
    if p2 == 62:  # UnionPay
        return 16 <= n <= 19
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763):  # Maestro
        return 13 <= n <= 19
    return False


def _valid_card(text: str) -> bool:
    separators = set(_NOT_DIGIT.findall(text))
    if len(separators) > 1:
        return False
    digits = _digits(text)
    return 13 <= len(digits) <= 19 and _card_brand_ok(digits) and luhn_valid(digits)


def iban_valid(compact: str) -> bool:
    compact = compact.upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", compact):
        return False
    expected = _IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _iban_prefix(text: str) -> str | None:
    """The longest valid IBAN at the start of ``text`` (grouped form may swallow words)."""
    if iban_valid(text.replace(" ", "")):
        return text
    if " " not in text:
        return None
    groups = text.split(" ")
    for end in range(len(groups) - 1, 2, -1):
        candidate = " ".join(groups[:end])
        if iban_valid(candidate.replace(" ", "")):
            return candidate
    return None


def _inside_digit_groups(string: str, start: int, end: int) -> bool:
    """Is the span one part of a longer run of separated digit groups ("3778 0100 7049 725")?"""
    before = string[max(0, start - 2) : start]
    after = string[end : end + 2]
    return (len(before) == 2 and before[0].isdigit() and before[1] in " .-") or (
        len(after) == 2 and after[0] in " .-" and after[1].isdigit()
    )


def _valid_ssn(text: str, string: str, start: int) -> bool:
    if text[3] != text[6] or _inside_digit_groups(string, start, start + len(text)):
        return False
    area, group, serial = text[:3], text[4:6], text[7:]
    return not (area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000")


def _valid_phone(text: str, string: str, start: int) -> bool:
    if text.count("(") != text.count(")"):
        return False
    international = text.startswith("+")
    digits = _digits(text.replace("(0)", "") if international else text)
    if not 10 <= len(digits) <= 15:
        return False
    if international:
        return True
    if _inside_digit_groups(string, start, start + len(text)):
        return False
    if digits[0] == "0":
        # trunk form: one consistent separator (a date-time like "01.01.2024 10" mixes them)
        if len(set(re.sub(r"[0-9()]", "", text.split(")", 1)[-1]))) > 1:
            return False
    return True


def _valid_ipv4(text: str, string: str, start: int) -> bool:
    end = start + len(text)
    return (
        _VERSION_BEFORE.search(string, max(0, start - 24), start) is None
        and _VERSION_AFTER.match(string, end) is None
    )


def _valid_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    groups = [g for g in re.split(r"[:.]", text) if g]
    return len(groups) >= 2 and any(c.isdigit() for c in text)


def _valid_eth_key(text: str, string: str, start: int) -> bool:
    if _HASH_LABEL_BEFORE.search(string, max(0, start - 24), start) is not None:
        return False
    value = int(_normalise_eth_key(text), 16)
    return 0 < value < _SECP256K1_N


# ------------------------------------------------------------------ seed phrases


@lru_cache(maxsize=1)
def bip39_words() -> frozenset[str]:
    """The 2048-word BIP-39 English list, read from the installed eth-account package."""
    spec = importlib.util.find_spec("eth_account")  # locates the package without importing it
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "hdaccount" / "wordlist" / "english.txt"
        if path.is_file():
            words = path.read_text(encoding="utf-8").split()
            if len(words) == 2048 and len(set(words)) == 2048 and words == sorted(words):
                return frozenset(words)
            break
    raise PiiError(
        "the BIP-39 English wordlist (eth_account/hdaccount/wordlist/english.txt) is missing "
        "or damaged; reinstall the project's dependencies (`pip install -e .`)",
        code="E_PII_WORDLIST",
    )


def _seed_spans(text: str, words: frozenset[str]) -> list[tuple[int, int]]:
    """Spans of runs of >= 12 BIP-39 words separated only by whitespace or commas."""
    spans: list[tuple[int, int]] = []
    run_start = run_end = -1
    length = 0
    for match in _WORD.finditer(text):
        start, end = match.span()
        in_list = end - start <= 8 and match.group().lower() in words
        joined = length and not text[run_end:start].strip(_SEED_SEPARATORS)
        if in_list and joined:
            run_end, length = end, length + 1
            continue
        if length >= _SEED_MIN_WORDS:
            spans.append((run_start, run_end))
        run_start, run_end, length = (start, end, 1) if in_list else (-1, -1, 0)
    if length >= _SEED_MIN_WORDS:
        spans.append((run_start, run_end))
    return spans


# ---------------------------------------------------------------------- scanning


class _Scanner:
    """Finds (and optionally replaces) PII spans in one string at a time."""

    def __init__(self, key: PiiKey | None) -> None:
        self.key = key
        self.words = bip39_words()
        self.counts: dict[str, int] = {}
        self._cache: dict[tuple[str, str], str] = {}

    def _found(self, entity: str, value: str) -> str:
        self.counts[entity] = self.counts.get(entity, 0) + 1
        if self.key is None:
            return "<" + entity + ">"
        cached = self._cache.get((entity, value))
        if cached is None:
            cached = self._cache[(entity, value)] = pseudonym(self.key, entity, value)
        return cached

    def _replace(self, match: re.Match) -> str:
        kind = match.lastgroup
        text = match.group()
        if kind == "skip":
            return text
        if kind == "email":
            return self._found(kind, text)
        if kind == "phone":
            if _valid_phone(text, match.string, match.start()):
                return self._found(kind, text)
        elif kind == "ipv4":
            if _valid_ipv4(text, match.string, match.start()):
                return self._found("ip_address", text)
        elif kind == "ipv6":
            if _valid_ipv6(text):
                return self._found("ip_address", text)
        elif kind == "payment_card":
            if _valid_card(text):
                return self._found(kind, text)
        elif kind == "us_ssn":
            if _valid_ssn(text, match.string, match.start()):
                return self._found(kind, text)
        elif kind == "iban":
            found = _iban_prefix(text)
            if found is not None:
                return self._found(kind, found) + text[len(found) :]
        elif kind == "eth_private_key":
            if _valid_eth_key(text, match.string, match.start()):
                return self._found(kind, text)
        return text

    def scan(self, text: str, bits: int) -> str:
        """Scan ``text`` with the detectors whose bit is set (the seed phrase is the top bit)."""
        detectors = bits & (_SEED_BIT - 1)
        if bits & _SEED_BIT:
            spans = _seed_spans(text, self.words)
            for start, end in reversed(spans):
                text = text[:start] + self._found("seed_phrase", text[start:end]) + text[end:]
            if spans:  # the gates were computed on the text before: open them all
                detectors = _SEED_BIT - 1
        if detectors:
            text = _combined(detectors, "<" in text).sub(self._replace, text)
        return text


def _is_text(dtype) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


def _text_columns(frame: pd.DataFrame, columns: Sequence[str] | None) -> list[int]:
    """Positions of the columns to scan: the text ones (of ``columns``, if given)."""
    if columns is not None:
        missing = [str(name) for name in columns if name not in frame.columns]
        if missing:
            raise PiiError(
                f"cannot scan columns that are not in the table: {', '.join(missing)}; "
                "check the column names",
                code="E_PII_UNKNOWN_COLUMN",
            )
        wanted = set(columns)
    return [
        i
        for i, (name, dtype) in enumerate(zip(frame.columns, frame.dtypes))
        if (columns is None or name in wanted) and _is_text(dtype)
    ]


def _as_arrow(values: np.ndarray) -> tuple[pa.Array, np.ndarray | None]:
    """The string cells as an Arrow array, and their positions if not every cell is one."""
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return pa.array(values, type=pa.string(), from_pandas=True), None
    # Mixed objects (numbers or bytes among strings): scan the str cells only.
    positions = np.flatnonzero([type(v) is str for v in values])
    return pa.array(values[positions].tolist(), type=pa.string()), positions


def _matches(strings: pa.Array, pattern: str) -> np.ndarray:
    mask = pc.fill_null(pc.match_substring_regex(strings, pattern), False)
    return mask.to_numpy(zero_copy_only=False)


def _trie_pattern(words: frozenset[str]) -> str:
    """An alternation of ``words`` factored by common prefixes (small and fast for RE2)."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict) -> str:
        branches = [char + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


@lru_cache(maxsize=1)
def _bip39_word_re2() -> str:
    # Whole ASCII words only, like the Python side (\b on both ends, case-insensitive).
    return r"(?i)\b" + _trie_pattern(bip39_words()) + r"\b"


# After every BIP-39 word is replaced by "#": twelve of them in a row.
_SEED_RUN = "#(?:" + _SEED_SEP + "+#){%d}" % (_SEED_MIN_WORDS - 1)
_DETECTOR_PREFILTER = "|".join(ENTITY_PREFILTERS[:-1])


def _gates(candidates: pa.Array) -> np.ndarray:
    """Bit i set when detector i may match the cell (top bit: a seed phrase may be there).

    Each gate is an RE2 superset of its Python detector, so the Python stage runs only the
    detectors that can find something, on the cells where they can.
    """
    bits = np.zeros(len(candidates), dtype=np.int64)
    some = np.flatnonzero(_matches(candidates, _DETECTOR_PREFILTER))
    if len(some):
        subset = candidates.take(pa.array(some))
        for i, pattern in enumerate(ENTITY_PREFILTERS[:-1]):
            bits[some[_matches(subset, pattern)]] |= 1 << i
    # Seed phrases in two steps: the cheap shape (12 short words), then, on those cells
    # only, every BIP-39 word marked in C and a run of twelve marks looked for.
    shaped = np.flatnonzero(_matches(candidates, _SEED_SHAPE))
    if len(shaped):
        words = candidates.take(pa.array(shaped))
        marked = pc.replace_substring_regex(words, _bip39_word_re2(), "#")
        bits[shaped[_matches(marked, _SEED_RUN)]] |= _SEED_BIT
    return bits


# A replacement changes the neighbours of the spans around it; cells are scanned again
# until nothing changes, so the result is exactly what find_cleartext_pii will accept.
_MAX_ROUNDS = 8


def _scan_column(series: pd.Series, key: PiiKey | None) -> tuple[dict[str, int], dict[int, str]]:
    """(counts per entity, position -> new text of every changed cell) for one column."""
    values = series.to_numpy(dtype=object, copy=False)
    strings, positions = _as_arrow(values)
    if positions is None:
        positions = np.arange(len(values))
    scanner = _Scanner(key)
    changed: dict[int, str] = {}
    for _ in range(_MAX_ROUNDS):
        hits = np.flatnonzero(_matches(strings, PREFILTER)) if len(strings) else []
        if not len(hits):
            break
        candidates = strings.take(pa.array(hits))
        bits = _gates(candidates)
        keep = np.flatnonzero(bits)
        round_positions, round_texts = [], []
        texts = candidates.take(pa.array(keep)).to_pylist()
        for position, text, mask in zip(positions[hits[keep]].tolist(), texts, bits[keep].tolist()):
            out = scanner.scan(text, mask)
            if out != text:
                changed[position] = out
                round_positions.append(position)
                round_texts.append(out)
        if not round_texts:
            break
        strings = pa.array(round_texts, type=pa.string())
        positions = np.asarray(round_positions, dtype=np.int64)
    return scanner.counts, changed


# ------------------------------------------------------------------------ report

# Column-name words (regex, "_" optional between parts) that suggest an entity. Names are
# split into snake_case words first, so "zip", "ship_date" or "telemetry" suggest nothing.
_HINT_WORDS = {
    "email": ("e_?mail", "e_?mail_?addr(?:ess)?"),
    "phone": (
        "phone", "telephone", "tel", "phone_?(?:number|no|num)", "mobile_?(?:phone|number|no)",
        "cell_?phone", "msisdn", "fax",
    ),
    "us_ssn": ("ssn", "us_ssn", "social_?security(?:_?(?:number|no))?"),
    "payment_card": (
        "card_?(?:number|no|num)", "cc_?(?:number|no|num)?", "credit_?card", "debit_?card",
        "payment_?card", "pan",
    ),
    "iban": ("iban", "bank_?account(?:_?(?:number|no))?", "account_?number"),
    "ip_address": (
        "ip", "ip_?addr(?:ess)?", "ipv4", "ipv6", "client_?ip", "remote_?addr", "source_?ip",
        "src_?ip", "dst_?ip",
    ),
    "eth_private_key": (
        "private_?key", "priv_?key", "secret_?key", "wallet_?key", "signing_?key",
    ),
    "seed_phrase": (
        "mnemonic", "seed_?phrase", "seed_?words", "recovery_?phrase", "secret_?phrase",
        "backup_?phrase",
    ),
}  # fmt: skip
_HINTS = tuple(
    (entity, re.compile(r"_(?:" + "|".join(words) + r")(?:_|$)"))
    for entity, words in _HINT_WORDS.items()
)


def column_hint(name: object) -> str | None:
    """The PII entity a column's *name* suggests (``"customer_email"`` -> ``"email"``)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    text = "_" + re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    for entity, pattern in _HINTS:
        if pattern.search(text):
            return entity
    return None


@dataclass
class PiiReport:
    """What was found, in counts only: never a value."""

    key_id: str
    counts: dict[str, dict[str, int]]
    column_hints: dict[str, str]
    scanned_columns: list[str] = field(default_factory=list)

    def total(self) -> int:
        return sum(n for per_entity in self.counts.values() for n in per_entity.values())

    def by_entity(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for per_entity in self.counts.values():
            for entity, n in per_entity.items():
                totals[entity] = totals.get(entity, 0) + n
        return {entity: totals[entity] for entity in ENTITIES if entity in totals}

    def as_dict(self) -> dict:
        return {
            "key_id": self.key_id,
            "total": self.total(),
            "by_entity": self.by_entity(),
            "counts": {column: dict(per_entity) for column, per_entity in self.counts.items()},
            "column_hints": dict(self.column_hints),
            "scanned_columns": list(self.scanned_columns),
        }


def _ordered(counts: dict[str, int]) -> dict[str, int]:
    return {entity: counts[entity] for entity in ENTITIES if counts.get(entity)}


def _merge(into: dict[str, dict[str, int]], column: str, found: dict[str, int]) -> None:
    if found:  # a duplicated column name adds up
        merged = into.setdefault(column, {})
        for entity, n in found.items():
            merged[entity] = merged.get(entity, 0) + n
        into[column] = _ordered(merged)


def scan_and_pseudonymise(
    frame: pd.DataFrame, key: PiiKey, columns: Sequence[str] | None = None
) -> tuple[pd.DataFrame, PiiReport]:
    """Replace every detected PII span in the text columns by its pseudonym.

    Scans every object/string column (or those of ``columns``). Returns a new frame (the
    input is not modified) and a report of counts per column and entity. Other columns,
    missing values and non-string cells are left as they are.
    """
    scan = _text_columns(frame, columns)
    out = frame.copy(deep=False)
    counts: dict[str, dict[str, int]] = {}
    for i in scan:
        series = frame.iloc[:, i]
        found, changed = _scan_column(series, key)
        _merge(counts, str(frame.columns[i]), found)
        if changed:
            column = series.copy()
            positions = np.fromiter(changed.keys(), dtype=np.int64, count=len(changed))
            column.iloc[positions] = list(changed.values())
            out.isetitem(i, column)
    hints = {str(name): hint for name in frame.columns if (hint := column_hint(name))}
    report = PiiReport(
        key_id=key.key_id,
        counts=counts,
        column_hints=hints,
        scanned_columns=[str(frame.columns[i]) for i in scan],
    )
    return out, report


def find_cleartext_pii(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Counts of PII values in clear in the text columns (pseudonym tokens are not PII)."""
    result: dict[str, dict[str, int]] = {}
    for i in _text_columns(frame, None):
        found, _ = _scan_column(frame.iloc[:, i], None)
        _merge(result, str(frame.columns[i]), found)
    return result
