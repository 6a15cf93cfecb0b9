"""What a scan reports: counts per column and entity, and what column names suggest; never a value."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hokusai_assets.lib.intake.pii.pseudonyms import ENTITIES

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
