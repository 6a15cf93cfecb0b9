"""What turns a pattern match into a finding: checksums (Luhn, mod-97), ranges and context words."""

from __future__ import annotations

import importlib.util
import ipaddress
import re
from functools import lru_cache
from pathlib import Path

from hokusai_assets.lib.intake.pii.patterns import SEED_MIN_WORDS, SEED_SEPARATORS, WORD
from hokusai_assets.lib.intake.pii.pseudonyms import NOT_DIGIT, PiiError, normalise_eth_key, only_digits
from hokusai_assets.lib.wallet import SECP256K1_N

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


def valid_card(text: str) -> bool:
    separators = set(NOT_DIGIT.findall(text))
    if len(separators) > 1:
        return False
    digits = only_digits(text)
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


def iban_prefix(text: str) -> str | None:
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


def valid_ssn(text: str, string: str, start: int) -> bool:
    if text[3] != text[6] or _inside_digit_groups(string, start, start + len(text)):
        return False
    area, group, serial = text[:3], text[4:6], text[7:]
    return not (area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000")


def valid_phone(text: str, string: str, start: int) -> bool:
    if text.count("(") != text.count(")"):
        return False
    international = text.startswith("+")
    digits = only_digits(text.replace("(0)", "") if international else text)
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


def valid_ipv4(text: str, string: str, start: int) -> bool:
    end = start + len(text)
    return (
        _VERSION_BEFORE.search(string, max(0, start - 24), start) is None
        and _VERSION_AFTER.match(string, end) is None
    )


def valid_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    groups = [g for g in re.split(r"[:.]", text) if g]
    return len(groups) >= 2 and any(c.isdigit() for c in text)


def valid_eth_key(text: str, string: str, start: int) -> bool:
    if _HASH_LABEL_BEFORE.search(string, max(0, start - 24), start) is not None:
        return False
    value = int(normalise_eth_key(text), 16)
    return 0 < value < SECP256K1_N


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


def seed_spans(text: str, words: frozenset[str]) -> list[tuple[int, int]]:
    """Spans of runs of >= 12 BIP-39 words separated only by whitespace or commas."""
    spans: list[tuple[int, int]] = []
    run_start = run_end = -1
    length = 0
    for match in WORD.finditer(text):
        start, end = match.span()
        in_list = end - start <= 8 and match.group().lower() in words
        joined = length and not text[run_end:start].strip(SEED_SEPARATORS)
        if in_list and joined:
            run_end, length = end, length + 1
            continue
        if length >= SEED_MIN_WORDS:
            spans.append((run_start, run_end))
        run_start, run_end, length = (start, end, 1) if in_list else (-1, -1, 0)
    if length >= SEED_MIN_WORDS:
        spans.append((run_start, run_end))
    return spans
