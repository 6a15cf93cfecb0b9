"""What turns a pattern match into a finding: checksums (Luhn, mod-97), ranges and context words."""

from __future__ import annotations

import importlib.util
import ipaddress
import re
from functools import lru_cache
from pathlib import Path

from hokusai_assets.lib.intake.pii.patterns import (
    HASH_LABEL_BEFORE,
    IBAN_LENGTHS,
    SECP256K1_N,
    SEED_MIN_WORDS,
    SEED_SEPARATORS,
    VERSION_AFTER,
    VERSION_BEFORE,
    WORD,
)
from hokusai_assets.lib.intake.pii.pseudonyms import NOT_DIGIT, PiiError, normalise_eth_key, only_digits


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
    expected = IBAN_LENGTHS.get(compact[:2])
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
        VERSION_BEFORE.search(string, max(0, start - 24), start) is None
        and VERSION_AFTER.match(string, end) is None
    )


def valid_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    groups = [g for g in re.split(r"[:.]", text) if g]
    return len(groups) >= 2 and any(c.isdigit() for c in text)


def valid_eth_key(text: str, string: str, start: int) -> bool:
    if HASH_LABEL_BEFORE.search(string, max(0, start - 24), start) is not None:
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
