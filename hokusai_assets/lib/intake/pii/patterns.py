"""The detectors: one pattern per entity, compiled for Python (precise) and RE2 (a superset, prefiltering)."""

from __future__ import annotations

import re
from functools import lru_cache

from hokusai_assets.lib.intake.pii.pseudonyms import ENTITIES, OCTET, PSEUDONYM_HEX

# Each detector is (body, not_before, not_after, not_after_pair). Python compiles it with
# look-arounds; the RE2 prefilter emulates them by consuming one character, which keeps
# the prefilter a superset of the precise pattern. Bodies use only syntax both engines
# read the same way (ASCII classes, no back-references).

_HEX = "[0-9A-Fa-f]"
_H16 = _HEX + "{1,4}"
_IPV4_TAIL = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"

DETECTORS: tuple[tuple[str, str, str, str, tuple[str, str] | None], ...] = (
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
    ("ipv4", OCTET + r"(?:\." + OCTET + "){3}", r"\w.", r"\w", (r"\.", r"\w")),
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
SEED_SEP = r"[ \t\r\n\f\v,]"
SEED_SHAPE = r"[A-Za-z]{3,8}(?:" + SEED_SEP + r"+[A-Za-z]{3,8}){11}"
SEED_MIN_WORDS = 12

PSEUDONYM_RE = r"<(?:" + "|".join(ENTITIES) + r"):[0-9a-f]{%d}>" % PSEUDONYM_HEX


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


SEED_BIT = 1 << len(DETECTORS)
WORD = re.compile(r"\b[A-Za-z]+\b", re.ASCII)
SEED_SEPARATORS = " \t\r\n\f\v,"

#: One RE2 pattern per detector (and the seed-phrase shape last), each a superset of it.
ENTITY_PREFILTERS = tuple(_re2_detector(*d[1:]) for d in DETECTORS) + (SEED_SHAPE,)
#: The RE2 prefilter of the whole scan: any cell it does not match holds no PII.
PREFILTER = "|".join(ENTITY_PREFILTERS)


@lru_cache(maxsize=None)
def combined(detector_bits: int, with_skip: bool) -> re.Pattern[str]:
    """The Python pattern of the detectors in ``detector_bits`` (leftmost match wins)."""
    parts = ["(?P<skip>" + PSEUDONYM_RE + ")"] if with_skip else []
    parts += [_python_detector(*d) for i, d in enumerate(DETECTORS) if detector_bits >> i & 1]
    return re.compile("|".join(parts), re.ASCII)
